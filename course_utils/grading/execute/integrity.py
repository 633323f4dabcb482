"""Runs inside a student's kernel while it is graded: notices and undoes monkey-patching.

Before any student code runs, the grader creates ``GUARD``; it records the functions and classes
of the modules that tests rely on (``WATCHED``), the kernel's own machinery (IPython's shell, the
kernel, its session) and the interpreter hooks. Before and after every trusted cell (set-up and
test cells) the grader calls ``GUARD.check(...)``: anything replaced since is put back and named
in a report, which the grader reads from a file whose name it chose at random for that call.

A test cell during which something was replaced (for example by the student's function it
called) fails. This covers patching of ``numpy.allclose``, ``numpy.testing``, the check helpers,
``builtins``, IPython's error display and the kernel's replies. It cannot stop code written to
attack this module itself from inside the same process; the static audit in
``course_utils.grading.intake`` flags such code for the instructor.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import types

#: Top-level packages whose functions and classes the tests rely on.
WATCHED = (
    "builtins",
    "math",
    "operator",
    "numpy",
    "course_utils",
    "keras",
    "IPython",
    "ipykernel",
    "jupyter_client",
    "zmq",
)
_HOOKS = ("displayhook", "breakpointhook")
#: Replaced by ipykernel itself at every execution (stdin forwarding), so not watched.
_VOLATILE = {("builtins", "input"), ("builtins", "raw_input"), ("getpass", "getpass")}
_MISSING = object()


def _is_code(value) -> bool:
    return callable(value) or isinstance(
        value, type | types.ModuleType | property | classmethod | staticmethod
    )


class Guard:
    def __init__(self, shell) -> None:
        self.shell = shell
        self.modules: dict[str, tuple[types.ModuleType, dict]] = {}
        self.classes: dict[int, tuple[type, dict]] = {}
        self.objects: list[tuple[object, dict]] = []
        self.names: dict[str, object] = {}
        self.hooks = {name: getattr(sys, name, None) for name in _HOOKS}
        self.snapshot([])
        kernel = getattr(shell, "kernel", None)
        for obj in (shell, kernel, getattr(kernel, "session", None)):
            if obj is not None:
                self.objects.append((obj, self._overrides(obj)))
        self.shell_lists = {name: list(live) for name, live in self._live_lists().items()}
        self.events = {k: list(v) for k, v in shell.events.callbacks.items()}

    def _live_lists(self) -> dict[str, list]:
        """IPython's lists of code transformers, which could rewrite a test before it runs."""
        manager = self.shell.input_transformer_manager
        return {
            "ast_transformers": self.shell.ast_transformers,
            "input_transformers_post": self.shell.input_transformers_post,
            "cleanup_transforms": manager.cleanup_transforms,
            "line_transforms": manager.line_transforms,
        }

    @staticmethod
    def _overrides(obj) -> dict:
        """Callables set on the instance itself that hide a method of its class."""
        return {k: v for k, v in vars(obj).items() if callable(v) and hasattr(type(obj), k)}

    # -- recording --------------------------------------------------------------------------
    def _add_class(self, cls: type) -> None:
        if id(cls) not in self.classes:
            try:
                members = {k: v for k, v in vars(cls).items() if _is_code(v)}
            except TypeError:
                return
            self.classes[id(cls)] = (cls, members)

    def snapshot(self, names: list[str]) -> None:
        """Record newly imported watched modules, and ``names`` as bound by trusted code."""
        for name, module in list(sys.modules.items()):
            if name in self.modules or not isinstance(module, types.ModuleType):
                continue
            if name.partition(".")[0] not in WATCHED:
                continue
            try:
                members = {
                    k: v
                    for k, v in vars(module).items()
                    if _is_code(v) and (name, k) not in _VOLATILE
                }
            except TypeError:
                continue
            self.modules[name] = (module, members)
            for value in members.values():
                if isinstance(value, type):
                    self._add_class(value)
        user_ns = self.shell.user_ns
        for name in names:
            if name in user_ns:
                self.names[name] = user_ns[name]
                if isinstance(user_ns[name], type):
                    self._add_class(user_ns[name])

    # -- checking ---------------------------------------------------------------------------
    def _restore_dict(self, label: str, live: dict, saved: dict, changed: list[str]) -> None:
        for key, value in saved.items():
            if live.get(key, _MISSING) is not value:
                changed.append(f"{label}.{key}")
                live[key] = value

    def _restore_class(self, cls: type, saved: dict, changed: list[str]) -> None:
        live = vars(cls)
        for key, value in saved.items():
            if live.get(key, _MISSING) is not value:
                changed.append(f"{cls.__module__}.{cls.__qualname__}.{key}")
                try:
                    setattr(cls, key, value)
                except (TypeError, AttributeError):
                    pass
        for key in set(live) - set(saved):
            if key.startswith("__") and key.endswith("__") and _is_code(live[key]):
                changed.append(f"{cls.__module__}.{cls.__qualname__}.{key} (added)")
                try:
                    delattr(cls, key)
                except (TypeError, AttributeError):
                    pass

    def restore(self, skip: set[str] = frozenset()) -> list[str]:
        """Put back everything that was replaced (but the names in ``skip``); return what was."""
        changed: list[str] = []
        for name, value in self.hooks.items():
            if getattr(sys, name, None) is not value:
                changed.append(f"sys.{name}")
                setattr(sys, name, value)
        if sys.gettrace() is not None or sys.getprofile() is not None:
            changed.append("sys.settrace/setprofile")
            sys.settrace(None)
            sys.setprofile(None)
        threading.settrace(None)  # type: ignore[arg-type]
        threading.setprofile(None)  # type: ignore[arg-type]
        for name, (module, members) in self.modules.items():
            if sys.modules.get(name, module) is not module:
                changed.append(f"sys.modules[{name!r}]")
                sys.modules[name] = module
            self._restore_dict(name, vars(module), members, changed)
        for cls, members in self.classes.values():
            self._restore_class(cls, members, changed)
        for obj, saved in self.objects:
            own = vars(obj)
            for key, value in self._overrides(obj).items():
                if saved.get(key, _MISSING) is not value:
                    changed.append(f"{type(obj).__name__}.{key} (instance override)")
                    if key in saved:
                        own[key] = saved[key]
                    else:
                        del own[key]
        shell = self.shell
        if shell.custom_exceptions:
            changed.append("IPython custom exception handler (set_custom_exc)")
            shell.custom_exceptions = ()
        for name, live in self._live_lists().items():
            if list(live) != self.shell_lists[name]:
                changed.append(f"IPython {name}")
                live[:] = self.shell_lists[name]
        for event, callbacks in shell.events.callbacks.items():
            if list(callbacks) != self.events.get(event, []):
                changed.append(f"IPython event callbacks ({event})")
                callbacks[:] = self.events.get(event, [])
        user_ns = shell.user_ns
        for name, value in self.names.items():
            if name not in skip and user_ns.get(name, _MISSING) is not value:
                changed.append(f"the name {name!r} (set by the notebook, rebound by the answer)")
                user_ns[name] = value
        return changed

    def check(self, report_path: str, names: list[str] | None = None) -> None:
        """Restore, record ``names`` as trusted, and write the report for the grader."""
        # IPython keeps the last error's traceback, and with it every local of the failing
        # call (say, the 3 GB a runaway answer allocated): let it go before anything else.
        sys.last_type = sys.last_value = sys.last_traceback = None
        if hasattr(sys, "last_exc"):
            sys.last_exc = None
        gc.collect()
        changed = self.restore(set(names or ()))
        if names is not None:
            self.snapshot(names)
        fd = os.open(report_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as fh:
            json.dump({"changed": changed}, fh)


GUARD: Guard | None = None


def install() -> None:
    """Create the guard for this kernel (the grader calls this before any student code)."""
    global GUARD
    from IPython import get_ipython

    GUARD = Guard(get_ipython())

"""A static audit of the student's code, for the instructor's review: code an honest answer to
these labs has no reason to contain (patching modules, reaching into the kernel, forged dunders).

No verdict depends on it (the tests run outside the student's kernel, see
``course_utils.grading.execute.judge``); it says what deserves a look.
"""

from __future__ import annotations

import ast
import threading

_SUSPECT_NAMES = {
    "builtins": "touches builtins",
    "__builtins__": "touches builtins",
    "get_ipython": "reaches into the kernel (get_ipython)",
    "gc": "walks the interpreter's objects (gc)",
    "ctypes": "uses ctypes",
    "inspect": "inspects frames or sources (inspect)",
    "importlib": "re-imports or replaces modules (importlib)",
    "subprocess": "starts programs (subprocess)",
    "multiprocessing": "starts processes (multiprocessing)",
    "socket": "opens network sockets",
    "urllib": "uses the network (urllib)",
    "requests": "uses the network (requests)",
    "integrity": "touches the grader's guard (course_utils.grading.execute.integrity)",
    "nbgrader": "touches nbgrader",
    "sqlite3": "opens a database (sqlite3)",
}
_SUSPECT_ATTRS = {
    "modules": "changes sys.modules",
    "_getframe": "reads the caller's frames",
    "settrace": "installs a trace function",
    "setprofile": "installs a profile function",
    "excepthook": "replaces sys.excepthook",
    "fork": "forks processes",
    "system": "runs shell commands",
    "popen": "runs shell commands",
    "__dict__": "edits an object's __dict__",
    "__class__": "changes an object's class",
    "__code__": "rewrites function code",
    "__closure__": "reads closures",
    "__globals__": "reads function globals",
    "set_custom_exc": "silences errors (set_custom_exc)",
    "showtraceback": "silences errors (showtraceback)",
}
_FORGING_DUNDERS = {
    "__eq__",
    "__ne__",
    "__bool__",
    "__len__",
    "__hash__",
    "__array__",
    "__array_ufunc__",
    "__array_function__",
    "__float__",
    "__int__",
    "__index__",
    "__lt__",
    "__gt__",
    "__le__",
    "__ge__",
    "__instancecheck__",
    "__subclasscheck__",
    "__getattribute__",
}


#: ``course grade`` prepares submissions in several threads, and CPython 3.11's AST constructor
#: is not thread-safe: concurrent ``ast.parse`` calls can fail with "SystemError: AST
#: constructor recursion depth mismatch" (python/cpython#106905), which graded a student 0.
_AST_LOCK = threading.Lock()


def audit(code: str) -> list[str]:
    """Name the constructs in a student's code that deserve a look (not a verdict)."""
    try:
        with _AST_LOCK:
            tree = ast.parse(code)
    except SyntaxError as exc:
        return [f"does not parse (line {exc.lineno}: {exc.msg})"]
    found: dict[str, None] = {}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + (
                [node.module] if getattr(node, "module", None) else []
            )
            for name in names:
                for part in name.split("."):
                    if part in _SUSPECT_NAMES:
                        found[_SUSPECT_NAMES[part]] = None
            modules.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Name) and node.id in _SUSPECT_NAMES:
            found[_SUSPECT_NAMES[node.id]] = None
        elif isinstance(node, ast.Attribute) and node.attr in _SUSPECT_ATTRS:
            found[_SUSPECT_ATTRS[node.attr]] = None
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") in {"setattr", "delattr"}:
            found["calls setattr/delattr"] = None
        elif isinstance(node, ast.ClassDef):
            dunders = {
                n.name
                for n in node.body
                if isinstance(n, ast.FunctionDef | ast.Assign | ast.Lambda)
                and getattr(n, "name", None) in _FORGING_DUNDERS
            }
            dunders |= {
                t.id
                for n in node.body
                if isinstance(n, ast.Assign)
                for t in n.targets
                if isinstance(t, ast.Name) and t.id in _FORGING_DUNDERS
            }
            if dunders:
                found[f"defines a class with {', '.join(sorted(dunders))}"] = None
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                base = target
                while isinstance(base, ast.Attribute | ast.Subscript):
                    base = base.value
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(base, ast.Name)
                    and (
                        base.id in modules
                        or base.id in {"np", "numpy", "math", "keras", "tf", "sys", "os"}
                    )
                ):
                    found[f"assigns to {ast.unparse(target)} (patches a module)"] = None
    return list(found)

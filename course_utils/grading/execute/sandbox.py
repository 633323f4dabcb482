"""Run one untrusted program (a student's Jupyter kernel) walled off from the rest of the machine.

``Sandbox.wrap(argv)`` returns a command line that runs ``argv`` through this module's launcher
(``python -m course_utils.grading.execute.sandbox SPEC -- argv``). The launcher uses only the
standard library and Linux system calls, so it needs no root and no extra package; what it
enforces depends on what the kernel allows the calling user:

=========================================  ===================  ============================
protection                                 how                  needs
=========================================  ===================  ============================
own process, own working directory         fork + chdir         nothing
time limit (CPU), memory, file size,       setrlimit            nothing
  process count                            (RLIMIT_NPROC)       a non-root uid (root drops
                                                                to a spare uid for it)
memory and task count of the whole         a cgroup per         root, or a delegated cgroup
  sandbox, however many processes          sandbox (v1 or v2)     (``join_cgroups``)
space its scratch directory may fill       a tmpfs of that      root (``scratch_filesystem``,
                                           size                   used by the grader)
no network                                 new network ns       user namespaces (or root)
hide gradebook, solutions, other students  new mount ns: tmpfs  user namespaces (or root)
  (and the instructor's home, /tmp)        over hidden paths
whole file system read-only but the        mount_setattr        user namespaces (or root),
  scratch directory                                             Linux >= 5.12
cannot see or signal other processes       new PID namespace    user namespaces (or root)
=========================================  ===================  ============================

Without user namespaces (``sysctl kernel.unprivileged_userns_clone=0``, or Ubuntu's AppArmor
restriction ``kernel.apparmor_restrict_unprivileged_userns=1``) only the first two rows hold; the
launcher says so in its report and ``require_isolation`` turns that into a hard error. Wall-clock
limits are the caller's job (the grader kills the process group).

The launcher writes ``report.json`` into ``run_dir`` before it starts the program, listing what
holds. It is written before any untrusted code runs, so the caller reads it once the kernel is up.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
import time
from dataclasses import asdict, dataclass, field

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
SYS_MOUNT_SETATTR = 442  # the same number on x86_64 and aarch64
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1

#: Environment variables a kernel keeps; everything else (tokens, the instructor's paths) goes.
ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONHASHSEED")


class SandboxError(RuntimeError):
    """The sandbox could not be set up as asked."""


@dataclass
class Sandbox:
    """What one untrusted program may do. Paths are absolute; see the module docstring."""

    run_dir: str  #: shared with the caller (sockets, report); writable, the program's cwd
    hide: list[str] = field(default_factory=list)  #: directories or files that must not be read
    keep: list[str] = field(default_factory=list)  #: paths under ``hide`` that stay readable
    #: address space of each process (RLIMIT_AS), and memory of all of them together (cgroup)
    memory_bytes: int = 4 << 30
    cpu_seconds: int = 900  #: CPU-time limit (RLIMIT_CPU): a backstop if the caller dies
    max_processes: int = 512  #: tasks (processes + threads) of its uid, and of its cgroup
    max_file_bytes: int = 256 << 20  #: largest file it may write (RLIMIT_FSIZE)
    tmp_bytes: int = 256 << 20  #: size of the private /tmp (in RAM)
    uid: int = 61000  #: when started as root: the first uid to try (see ``claim_uid``)
    require_isolation: bool = True  #: fail instead of running with rlimits only
    env: dict[str, str] = field(default_factory=dict)  #: extra environment for the program
    #: the program's stdout and stderr go to /dev/null, not to the caller's (a grader's log): a
    #: Jupyter kernel sends what cells print over its own sockets anyway
    quiet: bool = False

    def wrap(self, argv: list[str]) -> list[str]:
        return [
            sys.executable,
            "-m",
            "course_utils.grading.execute.sandbox",
            json.dumps(asdict(self)),
            "--",
            *argv,
        ]

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        base = os.environ if base is None else base
        env = {k: base[k] for k in ENV_KEEP if k in base}
        env.update(HOME=self.run_dir, TMPDIR="/tmp", PYTHONNOUSERSITE="1")
        env.update(self.env)
        return env


# --------------------------------------------------------------------------------------------
# The launcher (runs in the child process, before the untrusted program)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.syscall.restype = ctypes.c_long


class _MountAttr(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in ("attr_set", "attr_clr", "propagation", "userns_fd")]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = ""):
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(
        _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data) if data else None),
        f"mount {source} on {target}",
    )


def _mount_setattr(path: str, *, set_: int = 0, clear: int = 0, recursive: bool = False) -> None:
    attr = _MountAttr(set_, clear, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    ret = _libc.syscall(
        ctypes.c_long(SYS_MOUNT_SETATTR),
        ctypes.c_int(AT_FDCWD),
        ctypes.c_char_p(path.encode()),
        ctypes.c_uint(flags),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    _check(int(ret), f"mount_setattr {path}")


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def _isolate(spec: Sandbox, as_root: bool) -> list[str]:
    """Enter new namespaces and build the file-system view; return what holds."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    uid, gid = os.getuid(), os.getgid()
    if not as_root:
        flags |= CLONE_NEWUSER
    _check(_libc.unshare(flags), "unshare")
    if not as_root:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)

    # Keep handles on what must stay visible before anything is covered up.
    keep = sorted({os.path.realpath(p) for p in [*spec.keep, spec.run_dir] if os.path.exists(p)})
    handles = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for p in keep}
    hidden = []
    for path in sorted({os.path.realpath(p) for p in spec.hide}, key=len):
        if not os.path.exists(path) or any(_under(path, h) for h in hidden):
            continue
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
        else:
            _mount("/dev/null", path, None, MS_BIND)
        hidden.append(path)
    scratch = ["/tmp"] + (["/dev/shm"] if os.path.isdir("/dev/shm") else [])
    for path in scratch:
        size = spec.tmp_bytes if path == "/tmp" else 64 << 20
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    run_dir = os.path.realpath(spec.run_dir)
    for path in keep:
        if any(_under(path, h) for h in [*hidden, *scratch]) or path == run_dir:
            if os.path.isdir(f"/proc/self/fd/{handles[path]}"):
                os.makedirs(path, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                open(path, "a").close()
            _mount(f"/proc/self/fd/{handles[path]}", path, None, MS_BIND | MS_REC)
        os.close(handles[path])

    # Everything read-only, then the scratch places writable again.
    _mount_setattr("/", set_=MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, recursive=True)
    for path in [*scratch, run_dir]:
        _mount_setattr(path, clear=MOUNT_ATTR_RDONLY)
    return [
        "network: none (own network namespace)",
        "files: read-only except the scratch directory, /tmp and /dev/shm",
        f"hidden: {', '.join(hidden) or 'nothing'}",
        "processes: own PID namespace (cannot see or signal others)",
    ]


def _limits(spec: Sandbox) -> None:
    def cap(which: int, value: int) -> None:
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))

    cap(resource.RLIMIT_AS, spec.memory_bytes)
    cap(resource.RLIMIT_CPU, spec.cpu_seconds)
    cap(resource.RLIMIT_FSIZE, spec.max_file_bytes)
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_NPROC, spec.max_processes)


#: Where root's launchers take a lock per spare uid, so that no two sandboxes on the machine,
#: whichever grader started them, ever run as the same uid at once. RLIMIT_NPROC counts every
#: task of a uid: sharing one would let a submission that forks or spawns threads without end
#: starve another's kernel before it starts (seen: "Kernel died before replying to
#: kernel_info" for a correct notebook graded beside a fork bomb).
UID_LOCK_DIR = "/run/course-sandbox"
UID_RANGE = 1024  #: spare uids tried from ``Sandbox.uid`` on


def claim_uid(first: int, lock_dir: str = UID_LOCK_DIR, count: int = UID_RANGE) -> tuple[int, int]:
    """Return ``(uid, fd)``: a spare uid no other sandbox on this machine is using, held while
    ``fd`` stays open (an exclusive ``flock`` on ``lock_dir/<uid>.lock``; the kernel drops it
    when this process ends, however it ends)."""
    import fcntl

    os.makedirs(lock_dir, mode=0o700, exist_ok=True)
    for uid in [first + i for i in range(count)]:
        fd = os.open(os.path.join(lock_dir, f"{uid}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return uid, fd
    raise SandboxError(
        f"all {count} spare uids from {first} on are in use by other sandboxes; wait for some "
        "grading to finish, or grade with fewer parallel jobs"
    )


def watch_parent(on_orphan) -> None:
    """Call ``on_orphan`` and exit as soon as this process's parent dies (checked every second).

    So a grader killed with SIGKILL leaves no worker, launcher or kernel running behind it.
    """
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        on_orphan()
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


#: Prefix of the cgroups the launcher makes (one per sandbox, beside the grader's own).
CGROUP_PREFIX = "course-sandbox-"


def _cgroup_homes() -> dict[str, tuple[str, str]]:
    """Where this process's cgroups are, for the controllers a sandbox uses: ``{"memory":
    (version, folder), "pids": ...}``. Version 1 hierarchies first (a controller per mount);
    version 2 only where the controller is enabled for children (a delegated subtree)."""
    mounts: dict[str, str] = {}
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fstype, _source, options = (right.split() + ["", "", ""])[:3]
            point = left.split()[4]
            if fstype == "cgroup":
                for option in options.split(","):
                    if option in ("memory", "pids"):
                        mounts.setdefault(option, point)
            elif fstype == "cgroup2":
                mounts.setdefault("", point)
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                own[controller] = path
    homes = {}
    for controller in ("memory", "pids"):
        if controller in mounts and controller in own:
            homes[controller] = ("v1", mounts[controller] + own[controller].rstrip("/"))
        elif "" in mounts and "" in own:
            base = mounts[""] + own[""].rstrip("/")
            try:
                with open(os.path.join(base, "cgroup.subtree_control")) as fh:
                    if controller in fh.read().split():
                        homes[controller] = ("v2", base)
            except OSError:
                pass
    return homes


def join_cgroups(spec: Sandbox) -> list[str]:
    """Put this process (and so all it starts) into new cgroups that cap the memory and the
    number of tasks of the whole sandbox, however many processes share them; return their
    folders (empty where cgroups cannot be made: then only the per-process limits hold).

    Empty cgroups left by launchers that were killed are removed on the way."""
    made = []
    for controller, (version, home) in _cgroup_homes().items():
        try:
            for stale in os.listdir(home):
                if stale.startswith(CGROUP_PREFIX):
                    try:
                        os.rmdir(os.path.join(home, stale))
                    except OSError:
                        pass  # still in use
            folder = os.path.join(home, f"{CGROUP_PREFIX}{os.getpid()}")
            os.mkdir(folder)
        except OSError:
            continue
        try:
            if controller == "memory":
                limit = str(spec.memory_bytes)
                if version == "v1":
                    _write(os.path.join(folder, "memory.limit_in_bytes"), limit)
                    if os.path.exists(os.path.join(folder, "memory.memsw.limit_in_bytes")):
                        _write(os.path.join(folder, "memory.memsw.limit_in_bytes"), limit)
                else:
                    _write(os.path.join(folder, "memory.max"), limit)
                    if os.path.exists(os.path.join(folder, "memory.swap.max")):
                        _write(os.path.join(folder, "memory.swap.max"), "0")
            else:
                _write(os.path.join(folder, "pids.max"), str(spec.max_processes))
            _write(os.path.join(folder, "cgroup.procs"), "0")
        except OSError:
            try:
                os.rmdir(folder)
            except OSError:
                pass
            continue
        made.append(folder)
    return made


_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
MNT_DETACH = 2


class scratch_filesystem:
    """``with scratch_filesystem(path, size):`` mounts an empty tmpfs of ``size`` bytes on
    ``path`` (root only; elsewhere it does nothing), so that a program whose working directory it
    is can fill at most that much; on leaving, it is unmounted and what was written is gone."""

    def __init__(self, path: str, size: int) -> None:
        self.path, self.size, self.mounted = os.path.realpath(path), size, False

    def __enter__(self):
        if os.geteuid() == 0 and self.size > 0:
            _mount("tmpfs", self.path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={self.size},mode=755")
            self.mounted = True
        return self

    def __exit__(self, *exc) -> None:
        if self.mounted:
            unmount_scratch(self.path)
            self.mounted = False


def unmount_scratch(path: str) -> None:
    """Unmount what ``scratch_filesystem`` left mounted on ``path`` (its process was killed)."""
    path = os.path.realpath(path)
    if os.geteuid() == 0 and os.path.ismount(path):
        _libc.umount2(path.encode(), MNT_DETACH)


def remove_cgroups(folders: list[str], wait: float = 5.0) -> None:
    """Remove the cgroups of a sandbox that has ended (its processes may take a moment to go)."""
    deadline = time.monotonic() + wait
    for folder in folders:
        if not folder.rsplit("/", 1)[-1].startswith(CGROUP_PREFIX):
            continue  # only ever what join_cgroups made
        while True:
            try:
                os.rmdir(folder)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)


def launch(spec: Sandbox, argv: list[str]) -> int:
    """Set up the sandbox and run ``argv`` in it; return its exit status."""
    as_root = os.geteuid() == 0
    if as_root:
        # Held until this launcher exits, which is after the program (PID 1 of its namespace,
        # so all it started goes with it) has ended.
        uid, _uid_lock = claim_uid(spec.uid)
        spec = Sandbox(**{**asdict(spec), "uid": uid})
    report = {
        "limits": {
            "memory_bytes": spec.memory_bytes,
            "cpu_seconds": spec.cpu_seconds,
            "max_processes": spec.max_processes,
            "max_file_bytes": spec.max_file_bytes,
        },
        "uid": spec.uid if as_root else os.getuid(),
    }
    # Before the namespaces: the cgroup file system is read-only inside them.
    report["cgroups"] = join_cgroups(spec)
    try:
        report["isolation"] = _isolate(spec, as_root)
    except OSError as exc:
        report["isolation"] = []
        report["isolation_error"] = (
            f"{exc}. Namespaces are unavailable to this user, so the program runs with resource "
            "limits only: it can reach the network and read every file this user can. Enable "
            "unprivileged user namespaces or grade inside a container (see "
            "course_utils.grading.execute.sandbox)."
        )
    run_dir = os.path.realpath(spec.run_dir)
    if as_root:  # the program runs as spec.uid: hand it its directory and the files in it
        for path in [run_dir, *(os.path.join(run_dir, n) for n in os.listdir(run_dir))]:
            os.chown(path, spec.uid, spec.uid, follow_symlinks=False)
    _write(os.path.join(run_dir, "report.json"), json.dumps(report))
    if not report["isolation"] and spec.require_isolation:
        print(f"sandbox: {report['isolation_error']}", file=sys.stderr)
        return 70

    env = spec.environment()
    pid = os.fork()
    if pid == 0:  # PID 1 of the new PID namespace (when there is one)
        diagnostics = os.dup(2)  # not inherited: closed by a successful exec
        if spec.quiet:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            os.close(null)
        try:
            if report["isolation"]:
                _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            _limits(spec)
            _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
            if as_root:
                os.setgroups([])
                os.setgid(spec.uid)
                os.setuid(spec.uid)
            # If the launcher is killed, so is the program (set after setuid, which clears it).
            _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
            os.chdir(run_dir)
            os.execvpe(argv[0], argv, env)
        except BaseException as exc:  # noqa: BLE001 - report anything, then leave the child
            os.write(diagnostics, f"sandbox: could not start {argv[0]}: {exc}\n".encode())
        os._exit(127)
    # The launcher only waits; signals sent to the process group reach the program directly.
    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
    # Wait, and watch the parent: a thread cannot do that here (after unshare(CLONE_NEWPID) this
    # process may not start threads), so poll. A grader killed by SIGKILL leaves nothing behind.
    parent = os.getppid()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if os.getppid() != parent:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 3 or argv[1] != "--":
        print(
            "usage: python -m course_utils.grading.execute.sandbox SPEC_JSON -- PROGRAM [ARGS...]",
            file=sys.stderr,
        )
        return 2
    spec = Sandbox(**json.loads(argv[0]))
    try:
        return launch(spec, argv[2:])
    except SandboxError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 75


if __name__ == "__main__":
    sys.exit(main())

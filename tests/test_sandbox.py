"""The sandbox launcher on its own: what a program inside it can and cannot do.

Each check runs a small Python probe through ``python -m course_utils.grading.execute.sandbox``.
As root the probe runs as a spare uid; the "without root" tests start the launcher as an
unprivileged user (uid 65534, via setpriv) with the system's Python, to show what holds for an
instructor without root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from course_utils.grading.execute.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]
LAUNCHER = REPO / "course_utils" / "grading" / "execute" / "sandbox.py"

PROBE = textwrap.dedent(
    """
    import json, os, socket, sys
    out = {}
    def attempt(name, fn):
        try:
            out[name] = ["ok", repr(fn())[:200]]
        except BaseException as exc:
            out[name] = [type(exc).__name__, str(exc)[:200]]
    secret_dir, secret_file, outside = sys.argv[1], sys.argv[2], sys.argv[3]
    attempt("list_secret_dir", lambda: os.listdir(secret_dir))
    attempt("read_secret_file", lambda: open(secret_file).read())
    attempt("write_outside", lambda: open(outside, "w").write("x"))
    attempt("write_cwd", lambda: open("here.txt", "w").write("x"))
    attempt("write_tmp", lambda: open("/tmp/t.txt", "w").write("x"))
    attempt("connect", lambda: socket.create_connection(("127.0.0.1", 9), timeout=2))
    attempt("pids", lambda: sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
    attempt("uid", os.getuid)
    attempt("cwd", os.getcwd)
    def forks():
        n = 0
        try:
            for _ in range(300):
                if os.fork() == 0:
                    import time; time.sleep(20); os._exit(0)
                n += 1
        except OSError as exc:
            return f"stopped after {n}: {exc}"
        return f"forked {n}"
    attempt("forks", forks)
    def eat():
        blocks = []
        try:
            for _ in range(16):  # at most 4 GiB, even if the limit failed
                blocks.append(bytearray(256 << 20))
        except MemoryError:
            return f"MemoryError after {len(blocks) * 256} MiB"
        return f"allocated {len(blocks) * 256} MiB"
    attempt("memory", eat)
    print(json.dumps(out))
    """
)


@pytest.fixture
def layout():
    """A secret folder and file, a place outside, the probe, and a run dir.

    Under /var/tmp, world-readable: pytest's own tmp_path is private to root (the unprivileged
    user of the "without root" test must reach the probe), and /tmp is replaced in the sandbox.
    """
    tmp_path = Path(tempfile.mkdtemp(prefix="sandbox-test-", dir="/var/tmp"))
    tmp_path.chmod(0o755)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "answers.txt").write_text("42")
    outside = tmp_path / "outside.txt"
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    run = tmp_path / "run"
    run.mkdir()
    for p in (tmp_path, secret, run):
        p.chmod(0o755)
    probe.chmod(0o644)
    yield secret, outside, probe, run
    shutil.rmtree(tmp_path, ignore_errors=True)


def launch(spec: Sandbox, *program: str, python: str = sys.executable) -> list[str]:
    """The command line that runs ``program`` (with ``python``) in the sandbox ``spec``."""
    return [python, str(LAUNCHER), json.dumps(asdict(spec)), "--", python, *program]


def run_probe(spec: Sandbox, python: str, probe: Path, secret: Path, outside: Path, user=None):
    cmd = launch(spec, str(probe), python=python)
    cmd += [str(secret), str(secret / "answers.txt"), str(outside)]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((Path(spec.run_dir) / "report.json").read_text())
    return json.loads(proc.stdout.strip().splitlines()[-1]), report


def expect_isolated(result: dict, report: dict, run: Path) -> None:
    assert report["isolation"], report
    assert result["list_secret_dir"] == ["ok", "[]"]  # an empty tmpfs covers it
    assert result["read_secret_file"][0] in {"FileNotFoundError", "PermissionError"}
    assert result["write_outside"][0] in {"OSError", "FileNotFoundError", "PermissionError"}
    assert result["write_cwd"][0] == "ok" and (run / "here.txt").exists()
    assert result["write_tmp"][0] == "ok"
    assert result["connect"][0] == "OSError" and "unreachable" in result["connect"][1]
    assert result["pids"] == ["ok", "[1]"]
    assert result["cwd"] == ["ok", repr(str(run))]
    assert "stopped after" in result["forks"][1]
    assert "MemoryError after" in result["memory"][1]


@pytest.mark.skipif(os.geteuid() != 0, reason="the root mode needs root")
def test_as_root_everything_holds_and_the_program_runs_as_a_spare_uid(layout):
    secret, outside, probe, run = layout
    spec = Sandbox(
        run_dir=str(run),
        hide=[str(secret), str(Path.home())],
        keep=[str(probe), sys.prefix, sys.base_prefix],
        memory_bytes=1 << 30,
        max_processes=32,
        uid=61099,
    )
    result, report = run_probe(spec, sys.executable, probe, secret, outside)
    expect_isolated(result, report, run)
    # 61099 unless another sandbox on the machine holds it right now (see the next test)
    assert result["uid"] == ["ok", str(report["uid"])] and report["uid"] >= 61099
    assert not outside.exists()


HOG = textwrap.dedent(
    """
    import os, sys, time
    n = 0
    try:
        while True:
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            n += 1
    except OSError:
        pass
    open("full", "w").write(str(n))
    time.sleep(30)
    """
)
THREADS = textwrap.dedent(
    """
    import os, threading, time
    ts = [threading.Thread(target=time.sleep, args=(0.5,)) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(os.getuid())
    """
)


@pytest.mark.skipif(os.geteuid() != 0, reason="the root mode needs root")
def test_two_sandboxes_at_once_never_share_a_uid_so_a_fork_bomb_cannot_starve_its_neighbour():
    """RLIMIT_NPROC counts every task of a uid. Two graders (two classes, or CI's parallel
    tests) start kernels with the same preferred uid: the second must get a uid of its own, or a
    submission that has used up its process budget would stop the other's kernel starting."""
    tmp = Path(tempfile.mkdtemp(prefix="sandbox-test-", dir="/var/tmp"))
    tmp.chmod(0o755)
    try:
        hog_dir, ok_dir = tmp / "hog", tmp / "ok"
        for d in (hog_dir, ok_dir):
            d.mkdir()
            d.chmod(0o755)
        (tmp / "hog.py").write_text(HOG)
        (tmp / "threads.py").write_text(THREADS)
        for name in ("hog.py", "threads.py"):
            (tmp / name).chmod(0o644)
        common = dict(
            hide=[str(Path.home())],
            keep=[str(tmp), sys.prefix, sys.base_prefix],
            max_processes=16,
            uid=61200,
        )
        hog_spec = Sandbox(run_dir=str(hog_dir), **common)
        hog = subprocess.Popen(launch(hog_spec, str(tmp / "hog.py")), start_new_session=True)
        try:
            for _ in range(300):
                if (hog_dir / "full").exists():
                    break
                time.sleep(0.1)
            assert (hog_dir / "full").exists(), "the fork bomb never used up its budget"
            ok_spec = Sandbox(run_dir=str(ok_dir), **common)
            proc = subprocess.run(
                launch(ok_spec, str(tmp / "threads.py")),
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            os.killpg(hog.pid, 9)
            hog.wait()
        assert proc.returncode == 0, proc.stderr
        hog_uid = json.loads((hog_dir / "report.json").read_text())["uid"]
        ok_uid = json.loads((ok_dir / "report.json").read_text())["uid"]
        assert hog_uid != ok_uid and int(proc.stdout.strip()) == ok_uid
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or not Path("/usr/bin/python3").exists(),
    reason="needs root (to become an unprivileged user), setpriv and /usr/bin/python3",
)
def test_without_root_user_namespaces_give_the_same_isolation(layout):
    secret, outside, probe, run = layout
    os.chown(run, 65534, 65534)
    spec = Sandbox(
        run_dir=str(run),
        hide=[str(secret)],
        keep=[str(probe)],
        memory_bytes=1 << 30,
        max_processes=32,
    )
    result, report = run_probe(spec, "/usr/bin/python3", probe, secret, outside, user=65534)
    if not report["isolation"]:
        pytest.skip(f"this kernel refuses unprivileged user namespaces: {report}")
    expect_isolated(result, report, run)
    assert result["uid"] == ["ok", "65534"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become an unprivileged user")
def test_without_namespaces_it_refuses_or_says_what_is_missing(layout, monkeypatch):
    """Simulate a kernel without user namespaces: unshare fails, the report says so."""
    secret, outside, probe, run = layout
    spec = Sandbox(run_dir=str(run), hide=[str(secret)], keep=[str(probe)])
    code = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(REPO)!r})
        from course_utils.grading.execute import sandbox
        sandbox._libc = type("NoNamespaces", (), {{
            "unshare": staticmethod(lambda flags: -1),
            "mount": sandbox._libc.mount, "prctl": sandbox._libc.prctl,
            "syscall": sandbox._libc.syscall}})()
        spec = sandbox.Sandbox(**json.loads(sys.argv[1]))
        sys.exit(sandbox.launch(spec, ["/usr/bin/true"]))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(asdict(spec))], capture_output=True, text=True
    )
    assert proc.returncode == 70
    assert "Namespaces are unavailable" in proc.stderr
    report = json.loads((run / "report.json").read_text())
    assert report["isolation"] == [] and "user namespaces" in report["isolation_error"]
    spec.require_isolation = False
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(asdict(spec))], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_the_environment_keeps_nothing_secret(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "s3cret")
    monkeypatch.setenv("PATH", "/usr/bin")
    env = Sandbox(run_dir="/x", env={"MPLBACKEND": "Agg"}).environment()
    assert "GITHUB_TOKEN" not in env
    assert env["HOME"] == "/x" and env["PATH"] == "/usr/bin" and env["MPLBACKEND"] == "Agg"


@pytest.mark.skipif(os.geteuid() != 0, reason="the root mode needs root")
def test_a_quiet_sandbox_keeps_the_program_out_of_the_callers_output(layout):
    """The grader's worker logs to a file its kernels would otherwise inherit as stdout and
    stderr; with ``quiet`` whatever the program writes there (even with os.write) goes nowhere."""
    secret, outside, probe, run = layout
    noisy = run.parent / "noisy.py"
    noisy.write_text(
        "import os, sys\nos.write(1, b'forged to stdout')\nos.write(2, b'forged to stderr')\n"
        "print('printed')\nopen('done', 'w').write('yes')\n"
    )
    noisy.chmod(0o644)
    spec = Sandbox(
        run_dir=str(run),
        hide=[str(Path.home())],
        keep=[str(noisy), sys.prefix, sys.base_prefix],
        quiet=True,
    )
    proc = subprocess.run(launch(spec, str(noisy)), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and (run / "done").read_text() == "yes"
    assert proc.stdout == "" and proc.stderr == "", (proc.stdout, proc.stderr)
    # A program that cannot start is still reported on the caller's stderr.
    cmd = launch(spec)[:-1] + ["/nonexistent"]  # a program that does not exist
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 127 and "could not start /nonexistent" in proc.stderr

"""Where a student's kernel runs: a bubblewrap sandbox when ``bwrap`` works, else limits only.

In the sandbox (``bwrap``, Debian's ``bubblewrap``):

- no network (its own network namespace; the kernel talks to the grader over Unix sockets in the
  exchange folder), its own PID namespace (every process it starts dies with it), its own IPC and
  UTS namespaces, no capabilities, a new session;
- a read-only view of the system (``/usr``, ``/etc``), of Python and its packages, of the
  ``course_utils`` package and of the data folder, and nothing else of the disk: no
  ``solutions/``, no other file of the repository, no output folder, no other course copy;
- writable: the submission's working copy, the exchange folder, its own cache folder (which links
  to the shared checkpoints, read-only) and a private ``/tmp`` and ``$HOME`` (small tmpfs);
- limits (``limits.py``): memory (address space), CPU seconds, processes, file size; as root it
  runs as ``nobody``.

Without ``bwrap`` (or where it cannot start) grading still works but says loudly that it is not
sandboxed; the limits, its own process group (killed at the end) and a minimal environment still
apply.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from course_utils import config

LIMITS_SCRIPT = Path(__file__).with_name("limits.py")
NOBODY = 65534


@dataclass
class Limits:
    memory: int = 8 * 2**30        # bytes of address space
    cpu: int = 3600                # CPU seconds of the kernel (and what it starts)
    processes: int = 1024          # tasks (threads count) of the sandbox's user
    file_size: int = 512 * 2**20   # bytes per file written
    open_files: int = 4096

    def as_json(self, drop_root: bool) -> str:
        return json.dumps({"memory": self.memory, "cpu": self.cpu, "processes": self.processes,
                           "file_size": self.file_size, "open_files": self.open_files,
                           "drop_root": drop_root})


@lru_cache(maxsize=1)
def bwrap_problem() -> str:
    """'' when bubblewrap works here, else why not (shown in the loud unsandboxed warning)."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed; on Debian/Ubuntu: apt-get install bubblewrap"
    cmd = [exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
           "--dev", "/dev", "true"]
    if os.getuid() == 0:
        cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd] \
            if shutil.which("setpriv") else cmd
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not start: {exc}"
    if done.returncode != 0:
        return f"bwrap could not create a sandbox here: {done.stderr.strip()[:300]}"
    return ""


def _python_roots() -> list[Path]:
    """The folders the kernel's Python needs: the environment, its base, the real executables."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
             Path(os.path.realpath(sys.executable)).parent.parent}
    return sorted(p for p in roots if p.exists())


@dataclass
class SandboxSpec:
    work: Path                 # the submission's working copy: writable, the kernel's cwd
    exchange: Path             # connection file, sockets, requests and replies: writable
    cache: Path                # the kernel's own cache folder: writable
    home: Path                 # $HOME: writable
    readonly: list[Path] = field(default_factory=list)   # the package, the data, the shared cache
    limits: Limits = field(default_factory=Limits)
    use_bwrap: bool = True

    def readable_paths(self) -> list[Path]:
        """Python, the read-only folders, and the targets of links inside them (e.g. a data
        folder whose files link to a shared copy)."""
        paths = [*_python_roots(), *self.readonly]
        for folder in self.readonly:
            for path in _links_inside(Path(folder)):
                paths.append(path)
        return paths

    def drop_root(self) -> bool:
        """As root: run as nobody, if nobody can read everything the kernel needs."""
        return os.getuid() == 0 and all(_world_readable(p) for p in self.readable_paths())

    def command(self, kernel_cmd: list[str]) -> list[str]:
        drop_root = self.drop_root()
        wrapper = [sys.executable, "-I", str(LIMITS_SCRIPT), self.limits.as_json(drop_root), "--"]
        if not self.use_bwrap:
            return wrapper + kernel_cmd
        args = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent",
                "--new-session", "--cap-drop", "ALL", "--uid", str(NOBODY), "--gid", str(NOBODY),
                "--hostname", "sandbox"]
        # the private /tmp first: a folder bound below /tmp afterwards (a clone in /tmp, the
        # grader's temporary folders) stays visible on top of it
        args += ["--proc", "/proc", "--dev", "/dev", "--size", str(256 * 2**20), "--tmpfs", "/tmp"]
        for name in ("usr", "etc"):
            args += ["--ro-bind", f"/{name}", f"/{name}"]
        for name in ("bin", "lib", "lib64", "sbin"):
            path = Path("/") / name
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), f"/{name}"]
            elif path.exists():
                args += ["--ro-bind", str(path), str(path)]
        seen: set[str] = set()
        for path in self.readable_paths():
            real = str(Path(path).resolve())
            if real not in seen and Path(real).exists():
                seen.add(real)
                args += ["--ro-bind", real, real]
                if str(path) != real and not str(path).startswith(real):
                    args += ["--symlink", real, str(path)]
        for path in (self.work, self.exchange, self.cache, self.home):
            args += ["--bind", str(path), str(path)]
        # ipykernel would compare its parent's PID, from outside the PID namespace, with the one
        # it sees inside, and exit; --die-with-parent does that job here
        args += ["--chdir", str(self.work), "--unsetenv", "JPY_PARENT_PID"]
        return wrapper + args + kernel_cmd

    def prepare_folders(self) -> None:
        """The writable folders, owned by the sandbox's user when the grader is root."""
        drop = self.drop_root()   # the same test command() uses, with or without bwrap
        for path in (self.work, self.exchange, self.cache, self.home):
            path.mkdir(parents=True, exist_ok=True)
            if drop:
                for sub in [path, *path.rglob("*")]:
                    os.lchown(sub, NOBODY, NOBODY)


def _links_inside(folder: Path, depth: int = 3) -> list[Path]:
    """Folders that symbolic links under ``folder`` point to, outside it (a few levels deep)."""
    found: list[Path] = []
    if not folder.is_dir():
        return found
    root = folder.resolve()
    for current, dirs, files in os.walk(folder):
        if len(Path(current).relative_to(folder).parts) >= depth:
            dirs[:] = []
        for name in dirs + files:
            path = Path(current) / name
            if path.is_symlink():
                target = path.resolve()
                where = target if target.is_dir() else target.parent
                if root not in where.parents and where != root and where not in found:
                    found.append(where)
    return found


def _world_readable(path: Path) -> bool:
    """Whether any user may read ``path`` (every folder above it searchable by others)."""
    path = Path(path).resolve()
    try:
        if not path.stat().st_mode & 0o004:
            return False
        return all(p.stat().st_mode & 0o001 for p in path.parents)
    except OSError:
        return False


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command runs inside ``spec`` (set before starting)."""

    sandbox: SandboxSpec | None = None

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        return self.sandbox.command(cmd) if self.sandbox is not None else cmd


def kernel_env(spec: SandboxSpec, fast: bool) -> dict[str, str]:
    """A minimal environment for the student's kernel: nothing of the grader's own."""
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
        "HOME": str(spec.home),
        "TMPDIR": "/tmp" if spec.use_bwrap else str(spec.home),
        "XDG_CACHE_HOME": str(spec.home / ".cache"),
        "MPLCONFIGDIR": str(spec.home / ".config" / "matplotlib"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "COURSE_FAST": "1" if fast else "0",
        "COURSE_GRADING": "1",
        "COURSE_CACHE_DIR": str(spec.cache),
        "COURSE_DATA_DIR": str(config.data_dir()),
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1"),
        "JPY_SESSION_NAME": "submission.ipynb",
    }
    return env


def link_cache(shared: Path, private: Path) -> None:
    """The kernel's cache folder: links to every shared checkpoint (read-only in the sandbox);
    what the kernel writes stays in its own folder."""
    private.mkdir(parents=True, exist_ok=True)
    if not shared.is_dir():
        return
    for item in shared.iterdir():
        if not item.name.startswith("."):
            (private / item.name).symlink_to(item.resolve())

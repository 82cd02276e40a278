"""Where a student's kernel runs: a bubblewrap sandbox when ``bwrap`` works, else limits only.

In the sandbox (``bwrap``, Debian's ``bubblewrap``):

- no network (its own network namespace; the kernel talks to the grader over Unix sockets in the
  exchange folder), its own PID namespace (every process it starts dies with it), its own IPC and
  UTS namespaces, no capabilities, a new session;
- a read-only view of the system (``/usr``, ``/etc``), of Python and its packages, of the
  ``course_utils`` package and of the data folder, and nothing else of the disk: no
  ``solutions/``, no other file of the repository, no output folder, no other course copy;
- writable: the submission's working copy, the folder of its sockets and replies, its own cache
  folder (which links to the shared checkpoints, read-only) and a private ``/tmp`` and ``$HOME``;
  the folder where the trusted kernel writes its requests is read-only here, so nothing the
  student plants can redirect what the trusted side writes;
- limits (``limits.py``, ``watchdog.py``): memory (address space per process, and the sandbox's
  total through a cgroup where one can be made, else a watchdog that sums its resident memory),
  CPU seconds, processes (a cgroup's pids limit, and ``RLIMIT_NPROC``), file size, and the total
  size and number of files it writes (the watchdog);
- its user: as root, bubblewrap sets up the sandbox with privileges and then ``setpriv`` drops to
  ``nobody`` (uid 65534 on the host, no capabilities, ``no_new_privs``) before the kernel starts,
  wherever Python lives (under ``/root`` too: the sandbox recreates the folders above what it
  mounts, searchable by everyone). As another user, the kernel runs as that user inside an
  unprivileged user namespace.

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
    memory: int = 8 * 2**30        # bytes: address space per process, resident memory in total
    cpu: int = 3600                # CPU seconds of the kernel (and what it starts)
    processes: int = 1024          # tasks (threads count) of the sandbox's user, and its pids cgroup
    file_size: int = 512 * 2**20   # bytes per file written
    open_files: int = 4096
    disk: int = 2 * 2**30          # bytes the sandbox's writable folders may hold in total
    files: int = 20_000            # files and folders they may hold

    def as_json(self, drop_root: bool) -> str:
        """Settings for ``limits.py``, which this process starts (its ``parent``)."""
        return json.dumps({"memory": self.memory, "cpu": self.cpu, "processes": self.processes,
                           "file_size": self.file_size, "open_files": self.open_files,
                           "drop_root": drop_root, "parent": os.getpid()})


@lru_cache(maxsize=1)
def bwrap_problem() -> str:
    """'' when bubblewrap works here, else why not (shown in the loud unsandboxed warning)."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed; on Debian/Ubuntu: apt-get install bubblewrap"
    if os.getuid() == 0 and not shutil.which("setpriv"):
        return ("grading runs as root and setpriv (util-linux) is missing, so the sandbox could not "
                "drop to an unprivileged user; install util-linux, or grade as a normal user")
    cmd = [exe, *_namespaces(), "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
           "--dev", "/dev", *_drop_user(), "id", "-u"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not start: {exc}"
    if done.returncode != 0:
        return f"bwrap could not create a sandbox here: {done.stderr.strip()[:300]}"
    if os.getuid() == 0 and done.stdout.strip() != str(NOBODY):
        return (f"the sandbox did not drop root: its user was {done.stdout.strip()[:20]!r}, "
                f"not {NOBODY} (nobody)")
    return ""


def _namespaces() -> list[str]:
    """bwrap's namespace options: as root no user namespace (the kernel must be an unprivileged
    user on the host, which ``_drop_user`` makes it), else an unprivileged user namespace."""
    if os.getuid() == 0:
        return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try", "--cap-drop", "ALL", "--cap-add", "CAP_SETUID",
                "--cap-add", "CAP_SETGID"]
    return ["--unshare-all", "--cap-drop", "ALL", "--uid", str(NOBODY), "--gid", str(NOBODY)]


def _drop_user() -> list[str]:
    """As root, the command inside the sandbox starts with this: uid and gid 65534 on the host, no
    supplementary groups, no capabilities (bounding and inheritable sets cleared), no_new_privs."""
    if os.getuid() != 0:
        return []
    return [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
            "--clear-groups", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--"]


def _python_roots() -> list[Path]:
    """The folders the kernel's Python needs: the environment, its base, the real executables."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
             Path(os.path.realpath(sys.executable)).parent.parent}
    return sorted(p for p in roots if p.exists())


def course_readonly() -> list[Path]:
    """What every sandbox reads: the course package, the data folder, the shared checkpoints."""
    return [Path(config.__file__).resolve().parent, config.data_dir(), config.cache_dir(create=False)]


def readable_paths(readonly: list[Path]) -> list[Path]:
    """Python, the read-only folders, and the targets of links inside them (e.g. a data folder
    whose files link to a shared copy)."""
    paths = [*_python_roots(), *readonly]
    for folder in readonly:
        paths += _links_inside(Path(folder))
    return paths


def drops_root(use_bwrap: bool, readonly: list[Path]) -> bool:
    """As root, whether the kernel runs as nobody: always in the sandbox (bubblewrap mounts what it
    needs, then ``setpriv`` drops); without one only if nobody can read everything the kernel
    needs on the host (every folder above them searchable by others)."""
    if os.getuid() != 0:
        return False
    return use_bwrap or all(_world_readable(p) for p in readable_paths(readonly))


def stays_root(use_bwrap: bool, readonly: list[Path]) -> bool:
    """The student's kernel would run as root on the host (unsandboxed, Python unreadable to
    nobody): the grader says so at the start and in every result."""
    return os.getuid() == 0 and not drops_root(use_bwrap, readonly)


@dataclass
class SandboxSpec:
    work: Path                 # the submission's working copy: writable, the kernel's cwd
    exchange: Path             # connection file, sockets and replies: writable
    requests: Path             # where the trusted kernel writes its requests: read-only here
    cache: Path                # the kernel's own cache folder: writable
    home: Path                 # $HOME: writable
    readonly: list[Path] = field(default_factory=course_readonly)   # the package, the data, the shared cache
    limits: Limits = field(default_factory=Limits)
    use_bwrap: bool = True

    def readable_paths(self) -> list[Path]:
        return readable_paths(self.readonly)

    def drop_root(self) -> bool:
        return drops_root(self.use_bwrap, self.readonly)

    def stays_root(self) -> bool:
        return stays_root(self.use_bwrap, self.readonly)

    def command(self, kernel_cmd: list[str], cgroups: list[str] | None = None) -> list[str]:
        drop_root = self.drop_root()
        settings = json.loads(self.limits.as_json(drop_root and not self.use_bwrap))
        settings["cgroups"] = list(cgroups or [])
        wrapper = [sys.executable, "-I", str(LIMITS_SCRIPT), json.dumps(settings), "--"]
        if not self.use_bwrap:
            return wrapper + kernel_cmd
        args = [shutil.which("bwrap") or "bwrap", *_namespaces(), "--die-with-parent",
                "--new-session", "--hostname", "sandbox"]
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
        # (source, destination, read-only); parents before children, the folders above each one
        # created searchable by everyone (bwrap would make them 0700 as root: nobody could not
        # reach Python under /root)
        mounts: list[tuple[str, str, bool]] = []
        seen: set[str] = set()
        links: list[tuple[str, str]] = []
        for path in self.readable_paths():
            real = str(Path(path).resolve())
            if real not in seen and Path(real).exists():
                seen.add(real)
                mounts.append((real, real, True))
                if str(path) != real and not str(path).startswith(real):
                    links.append((real, str(path)))
        for path in self.writable():
            mounts.append((str(path), str(path), False))
        mounts.append((str(self.requests), str(self.requests), True))
        made: set[str] = {"/", "/tmp", "/proc", "/dev"}
        bound: list[str] = ["/usr", "/etc", "/proc", "/dev"] + [
            f"/{n}" for n in ("bin", "lib", "lib64", "sbin")
            if (Path("/") / n).exists() and not (Path("/") / n).is_symlink()]
        for source, dest, readonly in sorted(mounts, key=lambda m: len(Path(m[1]).parts)):
            for parent in reversed(Path(dest).parents):
                p = str(parent)
                if p in made or any(p == b or p.startswith(b + "/") for b in bound):
                    continue
                made.add(p)
                args += ["--perms", "0755", "--dir", p]
            args += ["--ro-bind" if readonly else "--bind", source, dest]
            bound.append(dest)
            made.add(dest)
        for real, path in links:
            args += ["--symlink", real, path]
        # ipykernel would compare its parent's PID, from outside the PID namespace, with the one
        # it sees inside, and exit; --die-with-parent does that job here
        args += ["--chdir", str(self.work), "--unsetenv", "JPY_PARENT_PID"]
        return wrapper + args + _drop_user() + kernel_cmd

    def writable(self) -> list[Path]:
        return [self.work, self.exchange, self.cache, self.home]

    def prepare_folders(self) -> None:
        """The writable folders, owned by the sandbox's user when the grader is root; the requests
        folder stays the grader's (read-only to the kernel in the sandbox)."""
        drop = self.drop_root()   # the same test command() uses, with or without bwrap
        for path in self.writable():
            path.mkdir(parents=True, exist_ok=True)
            if drop:
                for sub in [path, *path.rglob("*")]:
                    os.lchown(sub, NOBODY, NOBODY)
        self.requests.mkdir(parents=True, exist_ok=True)
        self.requests.chmod(0o755)


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
    """A kernel manager whose kernel command runs inside ``spec`` (set before starting), in the
    cgroups ``cgroups`` (``cgroup.procs`` files) where there are any."""

    sandbox: SandboxSpec | None = None
    cgroups: list[str] = []

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        if self.sandbox is None:
            return cmd
        if self.sandbox.drop_root() and self.connection_file:
            # jupyter_client wrote it for its own user, mode 600: the kernel must read it
            os.lchown(self.connection_file, NOBODY, NOBODY)
        return self.sandbox.command(cmd, self.cgroups)


class LimitedKernelManager(AsyncKernelManager):
    """The trusted kernel: no sandbox (it runs no student code), but limits on its memory and CPU,
    so that a reply that inflates or a test that runs away cannot take the machine."""

    limits: Limits | None = None

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        if self.limits is None:
            return cmd
        return [sys.executable, "-I", str(LIMITS_SCRIPT), self.limits.as_json(False), "--", *cmd]


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

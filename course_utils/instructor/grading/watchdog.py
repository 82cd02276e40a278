"""Limits on a whole sandbox, not one process: its total memory, processes, disk and files.

``setrlimit`` (``limits.py``) limits each process: three children of 1.5 GiB each stay under a
4 GiB address-space limit and still hold 4.5 GiB together, and nothing limits what they write in
total. Two mechanisms close that:

- **cgroups** (``Cgroups``), where the grader can make them: a memory limit and a pids limit on
  everything the sandbox runs. cgroup v2 where the grader's own cgroup can delegate ``memory`` and
  ``pids``, else cgroup v1's ``memory`` and ``pids`` hierarchies. The kernel joins them before it
  starts (``limits.py``), so nothing it starts escapes; the kernel's out-of-memory killer enforces
  the limit at once.
- **a watchdog** (``Watchdog``), always: a thread of the grader's worker that every half second
  sums the resident memory of the sandbox's processes (the kernel's process tree) and, every
  second, the bytes and files in the sandbox's writable folders. Over a limit, it kills every
  process of the sandbox and says why. Without cgroups it is what holds the total memory; a burst
  between two looks can go over by what a process allocates in half a second (each process is
  still held to the per-process limit).
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per controller ("" for the v2 hierarchy)."""
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for c in controllers.split(",") if controllers else [""]:
            out[c] = path
    return out


class Cgroups:
    """A memory and a pids cgroup for one sandbox, or none (``problem`` says why)."""

    def __init__(self, name: str, memory: int, pids: int) -> None:
        self.dirs: list[Path] = []
        self.kind = ""
        self.problem = ""
        try:
            self._make_v2(name, memory, pids) or self._make_v1(name, memory, pids)
        except OSError as exc:
            self.remove()
            self.problem = f"no cgroup could be made ({exc.strerror or exc})"
        if not self.dirs and not self.problem:
            self.problem = "no writable cgroup with memory and pids controllers here"

    def _make_v2(self, name: str, memory: int, pids: int) -> bool:
        if not (CGROUP_ROOT / "cgroup.controllers").exists():
            return False
        base = CGROUP_ROOT / _own_cgroups().get("", "/").lstrip("/")
        wanted = {"memory", "pids"}
        if not wanted <= set((base / "cgroup.controllers").read_text().split()):
            return False
        try:
            (base / "cgroup.subtree_control").write_text("+memory +pids")
        except OSError:   # our cgroup holds processes (no internal processes): not delegable
            return False
        group = base / name
        group.mkdir()
        self.dirs, self.kind = [group], "v2"
        (group / "memory.max").write_text(str(memory))
        try:
            (group / "memory.swap.max").write_text("0")
        except OSError:
            pass
        (group / "pids.max").write_text(str(pids))
        return True

    def _make_v1(self, name: str, memory: int, pids: int) -> bool:
        own = _own_cgroups()
        bases = {c: CGROUP_ROOT / c / own.get(c, "/").lstrip("/") for c in ("memory", "pids")}
        if not all((b / "cgroup.procs").exists() for b in bases.values()):
            return False
        for controller, base in bases.items():
            group = base / name
            group.mkdir()
            self.dirs.append(group)
        self.kind = "v1"
        (self.dirs[0] / "memory.limit_in_bytes").write_text(str(memory))
        try:
            (self.dirs[0] / "memory.memsw.limit_in_bytes").write_text(str(memory))
        except OSError:   # no swap accounting
            pass
        (self.dirs[1] / "pids.max").write_text(str(pids))
        return True

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def out_of_memory(self) -> bool:
        """Whether the cgroup's memory limit killed something."""
        if not self.dirs:
            return False
        try:
            if self.kind == "v2":
                events = (self.dirs[0] / "memory.events").read_text()
            else:
                events = (self.dirs[0] / "memory.oom_control").read_text()
        except OSError:
            return False
        for line in events.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip() not in ("", "0"):
                return True
        return False

    def kill(self) -> None:
        """SIGKILL to every process in the cgroups (what escaped the process tree too)."""
        for group in self.dirs:
            for _ in range(20):
                try:
                    pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                time.sleep(0.05)

    def remove(self) -> None:
        self.kill()
        for group in self.dirs:
            for _ in range(50):
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
        self.dirs = []


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it (by parent pid, read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def resident_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


def folder_usage(folders: list[Path], stop_bytes: int, stop_files: int) -> tuple[int, int]:
    """Bytes (allocated on disk) and entries below ``folders``, without following links; stops
    counting once over either limit."""
    size = count = 0
    todo = [str(f) for f in folders]
    while todo:
        try:
            with os.scandir(todo.pop()) as it:
                for entry in it:
                    count += 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    size += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(entry.path)
                    if size > stop_bytes or count > stop_files:
                        return size, count
        except OSError:
            continue
    return size, count


class Watchdog(threading.Thread):
    """Kills the sandbox (the process tree under ``pid()``) when it holds more than ``memory``
    bytes of resident memory, or its ``folders`` more than ``disk`` bytes or ``files`` entries.
    ``reason`` says why it killed, else it is empty."""

    def __init__(self, pid, memory: int, disk: int, files: int, folders: list[Path],
                 cgroups: Cgroups | None = None, interval: float = 0.5, disk_every: int = 2) -> None:
        super().__init__(daemon=True, name="sandbox-watchdog")
        self.pid, self.memory, self.disk, self.files = pid, memory, disk, files
        self.folders, self.cgroups, self.interval = list(folders), cgroups, interval
        self.disk_every = max(1, disk_every)
        self.reason = ""
        self.peak = 0
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        looks = 0
        while not self._halt.wait(self.interval):
            root = self.pid()
            if not root:
                continue
            pids = process_tree(root)
            rss = resident_bytes(pids)
            self.peak = max(self.peak, rss)
            if rss > self.memory:
                self._kill(pids, f"the notebook's processes held {rss / 2**30:.1f} GiB of memory together, "
                                 f"over the grader's limit of {self.memory / 2**30:.1f} GiB")
                return
            looks += 1
            if looks % self.disk_every == 0:
                size, count = folder_usage(self.folders, self.disk, self.files)
                if size > self.disk or count > self.files:
                    what = (f"{size / 2**20:.0f} MiB" if size > self.disk else f"{count} files")
                    limit = (f"{self.disk / 2**20:.0f} MiB" if size > self.disk else f"{self.files} files")
                    self._kill(pids, f"the notebook wrote {what} or more, over the grader's limit of {limit}")
                    return

    def _kill(self, pids: list[int], reason: str) -> None:
        self.reason = reason
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.cgroups is not None:
            self.cgroups.kill()

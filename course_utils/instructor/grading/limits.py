"""Start a command under resource limits: ``python limits.py JSON -- COMMAND ...``.

Run as a plain script (no imports from the course), between the grader and a student's kernel:

- its own session and process group (the grader kills the whole group at the end);
- killed when its parent (the grader's worker) dies;
- its cgroups (memory and pids limits of the whole sandbox), where the grader made any: this
  process joins them before it starts anything, so everything the kernel starts is inside;
- ``setrlimit``: address space, CPU seconds, processes, file size, open files, no core dumps;
- if started as root and asked to: the unprivileged user ``nobody`` (uid/gid 65534, no groups);

then ``exec`` of the command (bubblewrap, or the kernel itself where no sandbox tool exists).
"""
import ctypes
import json
import os
import resource
import signal
import sys

_LIMITS = {
    "memory": resource.RLIMIT_AS,
    "cpu": resource.RLIMIT_CPU,
    "processes": resource.RLIMIT_NPROC,
    "file_size": resource.RLIMIT_FSIZE,
    "open_files": resource.RLIMIT_NOFILE,
}
PR_SET_PDEATHSIG = 1
NOBODY = 65534


def main(argv: list) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: limits.py JSON -- COMMAND ...")
    settings = json.loads(argv[0])
    command = argv[2:]
    try:
        os.setsid()
    except OSError:  # already a session leader (Jupyter starts kernels in a new session)
        pass
    for procs in settings.get("cgroups") or []:
        with open(procs, "w") as f:   # a failure here stops the kernel: no unlimited sandbox
            f.write(str(os.getpid()))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name, which in _LIMITS.items():
        value = settings.get(name)
        if value:
            value = int(value)
            soft, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))
    if settings.get("drop_root") and os.getuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    try:   # after setuid, which clears it
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the grader's process group kill remains
        pass
    if settings.get("parent") and os.getppid() != settings["parent"]:
        sys.exit(1)   # the worker died before the signal was armed: none would come
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])

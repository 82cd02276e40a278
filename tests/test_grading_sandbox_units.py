"""The grader's limits on a whole sandbox and its watch for the course's own implementations,
without kernels (issue 27): the watchdog's memory, disk and file limits on a real process tree,
cgroups where this machine lets the grader make them, and the student side's check for answers
that use the course's implementation."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from course_utils.instructor.grading import student_side
from course_utils.instructor.grading.delegation import watched
from course_utils.instructor.grading.watchdog import Cgroups, Watchdog, folder_usage, process_tree

pytestmark = pytest.mark.kernel   # real process trees for the watchdog and the cgroups

HOLD = "import time\nb = b'x' * ({mib} * 2**20)\nprint('ready', flush=True)\ntime.sleep(60)"


def _tree(children: int, mib: int) -> subprocess.Popen:
    """A parent that starts ``children`` processes holding ``mib`` MiB each."""
    code = ("import subprocess, sys, time\n"
            f"kids = [subprocess.Popen([sys.executable, '-c', {HOLD.format(mib=mib)!r}]) for _ in range({children})]\n"
            "time.sleep(60)")
    return subprocess.Popen([sys.executable, "-c", code])


def _wait(dog: Watchdog, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while dog.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_the_watchdog_kills_a_tree_whose_processes_hold_too_much_together(tmp_path):
    parent = _tree(3, 150)                       # 450 MiB in three children, 150 MiB each
    try:
        dog = Watchdog(lambda: parent.pid, memory=300 * 2**20, disk=2**30, files=10_000,
                       folders=[tmp_path], interval=0.2)
        dog.start()
        _wait(dog)
        assert "GiB of memory together" in dog.reason, dog.reason
        parent.wait(timeout=10)
        assert parent.returncode == -9
        assert process_tree(parent.pid) == [parent.pid]   # no child left (the pid is gone)
    finally:
        parent.kill()


def test_the_watchdog_leaves_a_tree_within_its_limits_alone(tmp_path):
    parent = _tree(2, 20)
    try:
        dog = Watchdog(lambda: parent.pid, memory=2**30, disk=2**30, files=10_000,
                       folders=[tmp_path], interval=0.2)
        dog.start()
        time.sleep(3)
        dog.stop()
        assert dog.reason == "" and parent.poll() is None and dog.peak > 40 * 2**20
    finally:
        parent.kill()


def test_the_watchdog_counts_bytes_and_files_without_following_links(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "big").write_bytes(os.urandom(3 * 2**20))
    for i in range(50):
        (tmp_path / "a" / f"f{i}").write_text("x")
    (tmp_path / "link").symlink_to("/usr")           # never followed
    size, count = folder_usage([tmp_path], 2**40, 10**9)
    assert 3 * 2**20 <= size < 4 * 2**20 and count == 53
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dog = Watchdog(lambda: sleeper.pid, memory=2**34, disk=2**20, files=10_000,
                       folders=[tmp_path], interval=0.1, disk_every=1)
        dog.start()
        _wait(dog)
        assert "the notebook wrote" in dog.reason and "MiB" in dog.reason
        dog = Watchdog(lambda: sleeper.pid, memory=2**34, disk=2**30, files=20,
                       folders=[tmp_path], interval=0.1, disk_every=1)
        sleeper2 = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        dog.pid = lambda: sleeper2.pid
        dog.start()
        _wait(dog)
        assert "files" in dog.reason
        sleeper2.wait(timeout=10)
    finally:
        sleeper.kill()


def test_a_cgroup_holds_memory_and_processes_where_one_can_be_made():
    group = Cgroups(f"course-grade-test-{os.getpid()}", 200 * 2**20, 64)
    if not group.dirs:
        pytest.skip(f"no cgroup here: {group.problem}")
    try:
        code = ("import os\n"
                f"for p in {group.procs_files()!r}:\n    open(p, 'w').write(str(os.getpid()))\n"
                "b = b'x' * (400 * 2**20)\nprint('survived')")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert "survived" not in done.stdout and done.returncode != 0
        assert group.out_of_memory()
    finally:
        group.remove()
    assert all(not d.exists() for d in group.dirs)


def test_the_student_side_sees_an_answer_that_uses_the_course_implementation():
    from course_utils import clustering, models

    watch = watched("01_kmeans_em")
    assert watch["assign_clusters"] == ["course_utils.clustering:assign_clusters"]
    assert "course_utils.models.dbn:cd_k_gradients" in watched("06_nonparametric")["cd1_gradients"]
    assert watched("not_a_week") == {} and watched("99_future") == {}
    # the course's function under the exercise's name, and a class derived from the course's
    assert "assign_clusters used" in student_side._delegates(clustering.assign_clusters, watch)
    derived = type("MyVAE", (models.VAE,), {})
    assert "MyVAE used" in student_side._delegates(derived, watched("02_vae"))
    assert student_side._delegates(lambda X, c: X, watch) == ""
    # a call from the student's function, while the watch is on; and switching the watch off
    ns: dict = {}
    exec("from course_utils import clustering\n"
         "def wrapper(X, C):\n    return clustering.assign_clusters(X, C)\n"
         "def sneaky(X, C):\n    import sys\n    sys.setprofile(None)\n    return X\n", ns)
    import numpy as np

    X, C = np.random.default_rng(0).normal(size=(20, 2)), np.zeros((3, 2))
    with student_side._Watch({"assign_clusters": watch["assign_clusters"]}) as seen:
        ns["wrapper"](X, C)
    assert seen.hits == {"assign_clusters used course_utils.clustering.assign_clusters"}
    with student_side._Watch({"assign_clusters": watch["assign_clusters"]}) as seen:
        ns["sneaky"](X, C)
    assert any("switched off" in h for h in seen.hits)
    assert sys.getprofile() is None


def test_without_a_cgroup_the_grader_says_why(tmp_path, monkeypatch):
    from course_utils.instructor.grading import watchdog

    monkeypatch.setattr(watchdog, "CGROUP_ROOT", tmp_path / "no-cgroups")
    group = Cgroups("course-grade-none", 2**30, 64)
    assert group.dirs == [] and group.procs_files() == [] and group.problem
    assert not group.out_of_memory()
    group.remove()   # nothing to remove: no error


def test_a_student_cell_that_breaks_the_kernel_protocol_fails_that_cell_not_the_grader():
    """Anything but a timeout or a dead kernel while a student's cell runs (a wedged channel, a
    kernel killed mid-reply) is that cell's failure: the later cells are not run, and grading
    goes on to its result instead of ending in a grader error."""
    import nbformat

    from course_utils.instructor.grading.runner import _run_cells

    class Broken:
        timeout = 10
        code_cells_executed = 0

        def reset_output_counts(self):
            pass

        def execute_cell(self, cell, index, execution_count=None):
            raise RuntimeError("Kernel didn't respond to the shell channel")

    class Assignment:
        name = "xx_none"

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("y = 2")])
    from course_utils.instructor.grading.runner import CellRun

    runs = [CellRun("not run", "") for _ in nb.cells]
    _run_cells(nb, Assignment(), Broken(), Broken(), runs, {}, timeout=10)
    assert runs[0].status == "died" and "lost the notebook's kernel in cell 1" in runs[0].reason, runs[0]
    assert "RuntimeError" in runs[0].reason
    assert runs[1].status == "not run" and "lost the notebook's kernel" in runs[1].reason, runs[1]
    assert nb.cells[0].outputs[-1]["ename"] == "KernelLost"

"""The student bundle (`course release --bundle`): what students get, and nothing more."""
from __future__ import annotations

import re
import subprocess
import sys
import zipfile

import nbformat
import pytest

from course_utils import cli
from course_utils.config import REPO_ROOT
from course_utils.instructor.release import ReleaseError, build_bundle, read_notebook, release

SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("*.ipynb"))
MARKER = re.compile(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)")


def _regions(source: str) -> list[str]:
    pattern = r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)\n[ \t]*### END \1"
    return [m.group(2) for m in re.finditer(pattern, source, flags=re.S)]


def _flat(text: str) -> str:
    """Lines stripped, blank lines dropped: a region's body is found whatever its indentation."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The bundle as a zip, built from a fresh generation of the student notebooks."""
    tmp = tmp_path_factory.mktemp("bundle")
    release(REPO_ROOT / "solutions", tmp / "notebooks")
    path = tmp / "lwl-student.zip"
    build_bundle(path, notebooks_dir=tmp / "notebooks")
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist() if not name.endswith("/")}


def test_everything_is_inside_one_folder(bundle):
    assert {name.split("/", 1)[0] for name in bundle} == {"lwl-student"}


def test_expected_files_are_there(bundle):
    names = {name.split("/", 1)[1] for name in bundle}
    expected = {"README.md", "bootstrap.py", "environment.yml", "pyproject.toml",
                "course_utils/__init__.py", "course_utils/cli.py", "course_utils/config.py",
                "course_utils/checks/week01.py"}
    expected |= {f"notebooks/{p.name}" for p in SOLUTIONS}
    assert expected <= names, sorted(expected - names)


def test_nothing_instructor_only_is_there(bundle):
    names = {name.split("/", 1)[1] for name in bundle}
    for name in names:
        assert name.split("/")[0] not in {"solutions", "tests", "data", "benchmarks", ".ci"}, name
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
    assert not {"course_utils/instructor/release.py", "course_utils/instructor/grading/__init__.py", "course_utils/instructor/execute.py"} & names


def test_no_solution_text_in_any_file(bundle):
    regions = [_flat(r) for p in SOLUTIONS for c in read_notebook(p).cells for r in _regions(c.source)]
    assert regions, "the solutions have no solution regions: nothing to check against"
    for name, data in bundle.items():
        text = data.decode("utf-8", errors="replace")
        assert not MARKER.search(text), f"marker text in {name}"
        if name.endswith(".ipynb"):  # compare with the cells' text, not with escaped JSON
            text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        flat = _flat(text)
        for region in regions:
            assert region not in flat, f"solution text in {name}:\n{region}"


def test_student_readme_explains_setup_and_exercises(bundle):
    readme = bundle["lwl-student/README.md"].decode()
    assert "python3 bootstrap.py lab" in readme
    assert "bootstrap.py test" not in readme   # the bundle has no tests to run
    assert "raise NotImplementedError()" in readme and "self-check" in readme
    for p in SOLUTIONS:
        assert f"notebooks/{p.name}" in readme


def test_bootstrap_stays_executable(tmp_path):
    release(REPO_ROOT / "solutions", tmp_path / "notebooks")
    build_bundle(tmp_path / "folder", notebooks_dir=tmp_path / "notebooks")
    assert (tmp_path / "folder" / "bootstrap.py").stat().st_mode & 0o111
    assert (tmp_path / "folder" / "notebooks").is_dir()
    with pytest.raises(ReleaseError, match="not an empty folder"):
        build_bundle(tmp_path / "folder", notebooks_dir=tmp_path / "notebooks")


def test_a_leaking_notebook_stops_the_bundle(tmp_path):
    (tmp_path / "notebooks").mkdir()
    leaked = (REPO_ROOT / "solutions" / SOLUTIONS[0].name).read_text()
    (tmp_path / "notebooks" / SOLUTIONS[0].name).write_text(leaked)
    with pytest.raises(ReleaseError, match="Marker text"):
        build_bundle(tmp_path / "b.zip", notebooks_dir=tmp_path / "notebooks")
    assert not (tmp_path / "b.zip").exists()


def test_cli_release_bundle(tmp_path, capsys):
    args = ["release", "--solutions", str(REPO_ROOT / "solutions"),
            "--notebooks", str(tmp_path / "notebooks"), "--bundle", str(tmp_path / "s.zip")]
    assert cli.main(args) == 0
    assert "student bundle" in capsys.readouterr().out
    assert zipfile.is_zipfile(tmp_path / "s.zip")


@pytest.mark.kernel
def test_the_bundled_course_command_has_the_student_commands_only(tmp_path):
    release(REPO_ROOT / "solutions", tmp_path / "notebooks")
    build_bundle(tmp_path / "student", notebooks_dir=tmp_path / "notebooks")
    # This environment has the repository installed in editable mode; its import hook would find
    # the instructor modules in the repository, so it is taken out, as in a student's install.
    code = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path "
            "if '__editable__' not in getattr(f, '__module__', '')]; "
            "import course_utils, course_utils.cli as cli; "
            "print(course_utils.__file__); cli.main(['--help'])")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "student",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(tmp_path / "student"))
    assert "{lab,info,cluster,results}" in done.stdout   # `course results` and `course cluster` are for students too

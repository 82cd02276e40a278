"""environment.yml (conda) and pyproject.toml (pip) must describe the same environment."""
from __future__ import annotations

import re
import sys

from course_utils.config import REPO_ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# conda-forge names that differ from the PyPI names
CONDA_TO_PYPI = {"pytorch": "torch"}
CONDA_ONLY = {"python", "pip"}


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    assert match, f"cannot read requirement {requirement!r}"
    name = match.group(1).lower().replace("_", "-")
    spec = ",".join(sorted(s.strip() for s in match.group(2).replace(" ", "").split(",") if s))
    return name, spec


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        reqs += extra
    return dict(_split(r) for r in reqs)


def environment_requirements() -> dict[str, str]:
    reqs = {}
    in_deps = False
    for raw in (REPO_ROOT / "environment.yml").read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        if in_deps and re.match(r"^  - [^:]+$", line):  # top-level conda entries only
            name, spec = _split(line[4:])
            if name not in CONDA_ONLY:
                reqs[CONDA_TO_PYPI.get(name, name)] = spec
    return reqs


def test_same_packages_and_ranges():
    pip, conda = pyproject_requirements(), environment_requirements()
    assert set(pip) == set(conda), (
        f"only in pyproject.toml: {sorted(set(pip) - set(conda))}; "
        f"only in environment.yml: {sorted(set(conda) - set(pip))}"
    )
    differing = {n: (pip[n], conda[n]) for n in pip if pip[n] != conda[n]}
    assert not differing, f"ranges differ (pyproject, environment.yml): {differing}"


def test_requirements_are_ranges_not_pins():
    for name, spec in pyproject_requirements().items():
        assert "==" not in spec, f"{name} is pinned ({spec}); use a range"
        assert spec, f"{name} has no lower bound"


def test_environment_installs_this_package():
    assert re.search(r"^\s+- -e \.\s*$", (REPO_ROOT / "environment.yml").read_text(), re.M)


def test_python_floor_matches():
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert data["project"]["requires-python"] == ">=3.10"
    assert "python>=3.10" in (REPO_ROOT / "environment.yml").read_text()

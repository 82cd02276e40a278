"""environment.yml (conda) and pyproject.toml (pip) must describe the same environment."""
from __future__ import annotations

import re
import sys

from course_utils.config import REPO_ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# PyPI name -> conda-forge name, for every package whose names differ. Checked against the
# conda-forge feedstocks: pytorch-cpu-feedstock builds `pytorch`; playwright-python-feedstock builds
# `playwright-python` (conda-forge's `playwright` is the Node.js driver, with no Python module).
PYPI_TO_CONDA = {"torch": "pytorch", "playwright": "playwright-python"}
CONDA_TO_PYPI = {conda: pypi for pypi, conda in PYPI_TO_CONDA.items()}
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


def conda_entries() -> dict[str, str]:
    """environment.yml's top-level conda packages as they are written: conda name -> range."""
    reqs = {}
    in_deps = False
    for raw in (REPO_ROOT / "environment.yml").read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        if in_deps and re.match(r"^  - [^:]+$", line):  # top-level conda entries only
            name, spec = _split(line[4:])
            reqs[name] = spec
    return reqs


def environment_requirements() -> dict[str, str]:
    """environment.yml's packages under their PyPI names (for comparing with pyproject.toml)."""
    return {CONDA_TO_PYPI.get(name, name): spec for name, spec in conda_entries().items()
            if name not in CONDA_ONLY}


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


def test_conda_names_are_conda_forges():
    conda = conda_entries()
    for pypi_name, conda_name in PYPI_TO_CONDA.items():
        assert pypi_name in pyproject_requirements(), f"{pypi_name} is not a requirement any more"
        assert conda_name in conda, f"environment.yml should name {pypi_name} {conda_name!r} (conda-forge)"
    # a PyPI name in environment.yml would be another package (playwright) or none (torch)
    wrong = {name: PYPI_TO_CONDA[name] for name in conda if name in PYPI_TO_CONDA}
    assert not wrong, f"PyPI names used in environment.yml; conda-forge's names are: {wrong}"


def test_every_pip_name_maps_to_one_conda_name():
    conda = conda_entries()
    for name in pyproject_requirements():
        assert PYPI_TO_CONDA.get(name, name) in conda, (
            f"{name} (pyproject.toml) has no conda entry {PYPI_TO_CONDA.get(name, name)!r}; if "
            "conda-forge calls it differently, add it to PYPI_TO_CONDA"
        )

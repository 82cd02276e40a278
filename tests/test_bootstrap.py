"""bootstrap.py: its own options (--torch), the pip commands it builds, and what it runs next.

Nothing here installs a package: `run` (the pip calls) and the exec are replaced by recorders.
"""
from __future__ import annotations

import hashlib
import importlib.util
import socket
import time

import pytest

from course_utils.config import REPO_ROOT


def _load_bootstrap():
    spec = importlib.util.spec_from_file_location("bootstrap", REPO_ROOT / "bootstrap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bootstrap = _load_bootstrap()
real_run = bootstrap.run  # _fake_venv replaces bootstrap.run with a recorder


@pytest.fixture(autouse=True)
def _no_course_torch(monkeypatch):
    monkeypatch.delenv("COURSE_TORCH", raising=False)


@pytest.mark.parametrize("argv, rest, mode, uv", [
    (["lab", "--no-browser"], ["lab", "--no-browser"], "auto", False),
    (["lab", "--torch=cpu", "--no-browser"], ["lab", "--no-browser"], "cpu", False),
    (["--torch", "cuda", "test", "-k", "torch"], ["test", "-k", "torch"], "cuda", False),
    (["setup", "--torch=auto", "--uv"], ["setup"], "auto", True),
])
def test_own_options_are_taken_out_of_the_arguments(argv, rest, mode, uv):
    assert bootstrap.split_options(argv) == (rest, mode, uv)


def test_torch_option_from_the_environment_and_bad_values(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_TORCH", "CPU")
    assert bootstrap.split_options(["setup"]) == (["setup"], "cpu", False)
    assert bootstrap.split_options(["setup", "--torch=cuda"]) == (["setup"], "cuda", False)  # the option wins
    with pytest.raises(SystemExit) as info:
        bootstrap.split_options(["lab", "--torch=rocm"])
    assert info.value.code == 2
    assert "--torch='rocm' is not understood: use one of auto, cpu, cuda" in capsys.readouterr().err


@pytest.mark.parametrize("platform, nvidia_smi, expected", [
    ("linux", None, "cpu"),
    ("linux", "/usr/bin/nvidia-smi", "cuda"),
    ("win32", None, "cpu"),
    ("darwin", None, "cuda"),  # PyPI's macOS wheels have no CUDA: nothing to save
])
def test_auto_picks_the_cpu_wheels_without_an_nvidia_gpu(monkeypatch, platform, nvidia_smi, expected):
    monkeypatch.setattr(bootstrap.sys, "platform", platform)
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: nvidia_smi if name == "nvidia-smi" else None)
    assert bootstrap.resolve_torch("auto") == expected
    assert bootstrap.resolve_torch("cpu") == "cpu" and bootstrap.resolve_torch("cuda") == "cuda"


def test_pip_commands_for_each_build():
    python = REPO_ROOT / ".venv" / "bin" / "python"
    torch_reqs = bootstrap.torch_requirements()
    assert sorted(r.split(">")[0] for r in torch_reqs) == ["torch", "torchvision"]
    cpu = bootstrap.install_commands(python, ("test",), "cpu")
    cuda = bootstrap.install_commands(python, ("test", "browser"), "cuda")
    assert cpu[0][-2:] == ["--upgrade", "pip"] and cuda[0] == cpu[0]
    assert cpu[1] == [str(python), "-m", "pip", "install", *torch_reqs,
                      "--index-url", "https://download.pytorch.org/whl/cpu"]
    assert cpu[2] == [str(python), "-m", "pip", "install", "-e", f"{REPO_ROOT}[test]"]
    assert len(cuda) == 2 and cuda[1][-1] == f"{REPO_ROOT}[test,browser]"
    assert not any("--index-url" in cmd or "--extra-index-url" in cmd for cmd in cuda)


def test_uv_is_opt_in_and_installs_into_the_venv():
    python = REPO_ROOT / ".venv" / "bin" / "python"
    cmds = bootstrap.install_commands(python, ("test",), "cpu", uv=True)
    uv = str(python.parent / "uv")
    assert cmds[1] == [str(python), "-m", "pip", "install", "uv"]
    assert cmds[2][:5] == [uv, "pip", "install", "--python", str(python)]
    assert cmds[2][-2:] == ["--index-url", bootstrap.CPU_INDEX]
    assert cmds[3] == [uv, "pip", "install", "--python", str(python), "-e", f"{REPO_ROOT}[test]"]
    assert not any("uv" in " ".join(c) for c in bootstrap.install_commands(python, ("test",), "cpu"))


def _fake_venv(tmp_path, monkeypatch, reachable: bool):
    venv = tmp_path / "venv"
    python = bootstrap.venv_python(venv)
    python.parent.mkdir(parents=True)
    python.touch()
    monkeypatch.setenv("COURSE_VENV", str(venv))
    commands = []
    monkeypatch.setattr(bootstrap, "run", lambda cmd, explain=None: commands.append([str(c) for c in cmd]))
    monkeypatch.setattr(bootstrap, "index_reachable", lambda url: reachable)
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: None)  # no NVIDIA GPU
    monkeypatch.setattr(bootstrap.sys, "platform", "linux")
    return venv, commands


def test_setup_installs_the_cpu_wheels_when_the_index_answers(tmp_path, monkeypatch):
    venv, commands = _fake_venv(tmp_path, monkeypatch, reachable=True)
    bootstrap.setup(("test",), "auto")
    assert [c for c in commands if "--index-url" in c][0][-1] == bootstrap.CPU_INDEX
    assert commands[-1][-1] == f"{REPO_ROOT}[test]"
    wanted = hashlib.sha256((REPO_ROOT / "pyproject.toml").read_bytes()).hexdigest()
    assert (venv / ".course-installed").read_text().split() == [wanted, "test", "torch=cpu"]
    commands.clear()
    bootstrap.setup(("test",), "auto")  # up to date: nothing to do
    assert commands == []


def test_setup_falls_back_to_pypi_when_the_cpu_index_is_unreachable(tmp_path, monkeypatch, capsys):
    venv, commands = _fake_venv(tmp_path, monkeypatch, reachable=False)
    bootstrap.setup(("test",), "cpu")
    out = capsys.readouterr().out
    notes = [line for line in out.splitlines() if "cannot be reached" in line]
    assert len(notes) == 1 and "installing the default torch from PyPI" in notes[0]
    assert not any("--index-url" in c for c in commands)
    assert commands[-1][-1] == f"{REPO_ROOT}[test]"
    assert (venv / ".course-installed").read_text().split()[-1] == "torch=cuda"


def test_an_explicit_build_does_not_silently_keep_another(tmp_path, monkeypatch, capsys):
    venv, commands = _fake_venv(tmp_path, monkeypatch, reachable=True)
    wanted = hashlib.sha256((REPO_ROOT / "pyproject.toml").read_bytes()).hexdigest()
    (venv / ".course-installed").write_text(f"{wanted} test\n")  # made before --torch existed
    bootstrap.setup(("test",), "cpu")
    assert commands == []
    assert "delete that folder" in capsys.readouterr().out


def _disk_with_free(monkeypatch, gib: float):
    usage = bootstrap.shutil.disk_usage(".")
    monkeypatch.setattr(bootstrap.shutil, "disk_usage",
                        lambda path: usage._replace(free=int(gib * 2**30)))


def test_a_full_disk_is_named_before_the_install_and_when_it_fails(tmp_path, monkeypatch, capsys):
    venv, commands = _fake_venv(tmp_path, monkeypatch, reachable=False)
    _disk_with_free(monkeypatch, 0.3)
    bootstrap.setup(("test",), "auto")
    warning = [line for line in capsys.readouterr().out.splitlines() if "warning" in line]
    assert len(warning) == 1 and "Only 0.3 GiB is free" in warning[0] and str(venv) in warning[0]
    assert "takes about 7 GiB" in warning[0] and "--torch=cpu" in warning[0]
    assert commands  # a warning, not a refusal: the disk may be big enough after all
    # pip failing (here: `false`) on that disk ends with the same advice after pip's own error
    monkeypatch.setattr(bootstrap, "ROOT", tmp_path)
    with pytest.raises(SystemExit) as stop:
        real_run(["false"], lambda: bootstrap.disk_advice(venv, "cpu"))
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "command failed with exit code 1: false" in err
    assert "Only 0.3 GiB is free" in err and "about 2 GiB" in err and "--torch=cpu" not in err


def test_enough_disk_means_no_advice(tmp_path, monkeypatch, capsys):
    _disk_with_free(monkeypatch, 50)
    assert bootstrap.disk_advice(tmp_path, "cuda") == ""
    with pytest.raises(SystemExit):
        real_run(["false"], lambda: bootstrap.disk_advice(tmp_path, "cuda"))
    assert capsys.readouterr().err.strip().endswith("exit code 1: false")


def test_index_probe_gives_up_on_a_closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    assert bootstrap.index_reachable(f"http://127.0.0.1:{port}/whl/cpu", timeout=2) is False
    assert time.monotonic() - start < 5


def test_lab_and_test_replace_bootstrap_with_the_command(monkeypatch):
    ran = []
    python = REPO_ROOT / ".venv" / "bin" / "python"
    monkeypatch.setattr(bootstrap, "setup", lambda extras, torch_mode, uv: ran.append((extras, torch_mode)) or python)
    monkeypatch.setattr(bootstrap, "replace_process", lambda args: ran.append([str(a) for a in args]) or 0)
    assert bootstrap.main(["lab", "--no-browser", "--torch=cpu", "--port", "9999"]) == 0
    assert ran == [(("test",), "cpu"), [str(python), "-m", "course_utils", "lab", "--no-browser", "--port", "9999"]]
    ran.clear()
    assert bootstrap.main(["results", "--jobs", "2"]) == 0
    assert ran == [(("test",), "auto"), [str(python), "-m", "course_utils", "results", "--jobs", "2"]]
    ran.clear()
    assert bootstrap.main(["test", "-x"]) == 0
    assert ran == [(("test", "instructor", "browser"), "auto"),
                   [str(python), "-m", "pytest", "-n", "2", "--dist", "loadfile", "--no-loadscope-reorder", "-x"]]


@pytest.mark.parametrize("args", [["-n", "0"], ["-n4"], ["--numprocesses=3"], ["-p", "no:xdist"],
                                  ["-k", "metrics"], ["tests/test_metrics.py::test_acc"]])
def test_test_runs_two_workers_unless_the_arguments_choose(args):
    assert bootstrap.parallel_options(["-x", "tests"]) == ["-n", "2", "--dist", "loadfile", "--no-loadscope-reorder"]
    assert bootstrap.parallel_options(args) == []


def test_help_mentions_the_torch_option(capsys):
    assert bootstrap.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--torch=cpu" in out and "download.pytorch.org/whl/cpu" in out

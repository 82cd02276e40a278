"""One place for every setting (``course_utils/settings.py``): the notebooks' parameters cells,
``course results`` and the full-mode benchmarks read it, and nothing writes a value of its own.

The notebooks are read with ``ast`` (nothing is executed), the benchmarks' option parsers are
built and their defaults compared with the week's full mode.
"""
from __future__ import annotations

import ast
import importlib.util
import sys

import nbformat
import pytest

from course_utils import results, settings
from course_utils.config import REPO_ROOT

NOTEBOOKS = sorted(p for p in (REPO_ROOT / "solutions").glob("0*.ipynb"))
#: Names a parameters cell may set that are not settings: where the summary reads its files.
NOT_SETTINGS = {"08": {"RESULTS_DIR"}}


def _parameters_cell(path) -> tuple[str, ast.Module]:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "settings.week(" in c.source]
    assert len(cells) == 1, f"{path.name}: expected one parameters cell that calls settings.week(...), found {len(cells)}"
    return cells[0].source, ast.parse(cells[0].source)


def test_every_week_has_a_notebook_and_settings():
    assert [p.name[:2] for p in NOTEBOOKS] == list(settings.WEEKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_parameters_cell_reads_every_value_from_settings(path):
    week = path.name[:2]
    source, tree = _parameters_cell(path)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == "settings.week"]
    assert len(calls) == 1 and ast.unparse(calls[0]) == f"settings.week({week!r}, config.mode())", \
        f"{path.name}: the cell must read `settings.week({week!r}, config.mode())`, not {ast.unparse(calls[0])}"
    assert "config.pick" not in source, f"{path.name}: a value of the course chosen with config.pick in the notebook"
    names = settings.WEEKS[week]
    seen = set()
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        target = node.targets[0]
        targets = [t.id for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
        if targets == ["P"]:
            continue
        values = node.value.elts if isinstance(node.value, ast.Tuple) and len(targets) > 1 else [node.value]
        for name, value in zip(targets, values):
            if name in NOT_SETTINGS.get(week, set()):
                continue
            assert name in names, f"{path.name}: {name} is set in the parameters cell but is not in settings.WEEKS[{week!r}]"
            assert ast.unparse(value) == f"P[{name!r}]", \
                f"{path.name}: {name} = {ast.unparse(value)}; it must read P[{name!r}] (its value lives in settings.py)"
            seen.add(name)
    assert seen == set(names), f"{path.name}: settings.WEEKS[{week!r}] holds {sorted(set(names) - seen)} " \
                               "that the parameters cell does not read"


def test_course_results_reads_the_weeks_settings():
    for mode in settings.MODES:
        assert results.SETTINGS[mode] == settings.results_settings(mode)
    fast, full = settings.results_settings("fast"), settings.results_settings("full")
    w3, w4 = settings.week("03", "full"), settings.week("04", "full")
    assert full["vade"] == {"epochs": w3["VADE_EPOCHS"], "lr": w3["VADE_LR"], "gmm_em": w3["VADE_GMM_EM"],
                            "scratch_epochs": w3["NO_PRETRAIN_EPOCHS"]}
    assert full["ae"]["recipe"] == w4["AE_RECIPE"] == "bce-aug" and fast["ae"]["recipe"] == "adam"
    assert full["dec"] == {"max_iter": w4["MAX_ITER"], "da_max_iter": w4["DA_MAX_ITER"]}


def test_the_mode_is_a_value_not_the_environment(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert settings.week("03", "full")["VADE_LR"] == 2e-4 and settings.week("03", "fast")["VADE_LR"] == 2e-3
    with pytest.raises(ValueError, match="use 'fast' or 'full'"):
        settings.week("03", "quick")
    with pytest.raises(ValueError, match="the course has weeks"):
        settings.week("10", "fast")
    src = (REPO_ROOT / "course_utils" / "results.py").read_text()
    assert "COURSE_FAST" not in src, "course results must pass the mode on, not write it into the environment"


def _benchmark(name: str):
    path = REPO_ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


#: Each full-mode benchmark's options that are settings: option -> (week, NAME), compared with the
#: week's full-mode value. "seeds" is ``course results --full``'s seeds.
BENCHMARK_OPTIONS = {
    "vade_full": {"split": ("03", "MNIST_SPLIT"), "ae_recipe": ("03", "AE_RECIPE"), "ae_epochs": ("03", "AE_EPOCHS"),
                  "epochs": ("03", "VADE_EPOCHS"), "lr": ("03", "VADE_LR"),
                  "gmm_kmeans_restarts": ("03", "GMM_KMEANS_RESTARTS"), "gmm_em": ("03", "VADE_GMM_EM"),
                  "ae_batch": ("04", "AE_BATCH")},
    "dec_full": {"split": ("04", "MNIST_SPLIT"), "recipe": ("04", "AE_RECIPE"), "ae_epochs": ("04", "AE_EPOCHS"),
                 "update_interval": ("04", "UPDATE_INTERVAL")},
    "gan_full": {"split": ("05", "MNIST_SPLIT")},
    "nonparametric_full": {},
    "prednet_full": {"seed": ("07", "SEED")},
}


@pytest.mark.parametrize("name", sorted(BENCHMARK_OPTIONS))
def test_a_benchmarks_defaults_are_its_weeks_full_mode(name):
    module = _benchmark(name)
    assert hasattr(module, "parser"), f"benchmarks/{name}.py: build its options in a parser() function"
    args = vars(module.parser().parse_args([]))
    for option, (week, key) in BENCHMARK_OPTIONS[name].items():
        want = settings.full(week, key)
        got = args[option]
        if option == "update_interval":   # 0 on the command line means None
            got = got or None
        assert got == want, f"benchmarks/{name}.py: --{option.replace('_', '-')} defaults to {got!r}, " \
                            f"week {week}'s full mode has {key} = {want!r}"
    if "seeds" in args:
        assert tuple(args["seeds"]) == settings.RESULTS["seeds"].full
    source = (REPO_ROOT / "benchmarks" / f"{name}.py").read_text()
    assert "WEEK06_FULL" not in source and "WEEK07_FULL" not in source and "config.pick" not in source


def test_the_gan_and_prednet_benchmarks_train_with_the_weeks_values():
    gan_full = _benchmark("gan_full")
    w5, gan = settings.week("05", "full"), settings.results_settings("full")["gan"]
    assert {k: gan_full.FULL[k] for k in gan} == gan
    assert (gan_full.FULL["hidden"], gan_full.FULL["ae_recipe"], gan_full.FULL["aae_clusters"]) == \
           (w5["HIDDEN"], w5["AE_RECIPE"], w5["AAE_CLUSTERS"])
    w7, video = settings.week("07", "full"), settings.video("full")
    assert (video["steps"], video["lr_drop_at"], video["batch_size"], video["n_in"]) == \
           (w7["STEPS"], w7["LR_DROP_AT"], w7["BATCH_SIZE"], w7["N_IN"])


def test_show_prints_both_modes():
    text = settings.show("03", "fast")
    assert "VADE_LR" in text and "0.002" in text and "0.0002" in text and text.endswith("this run: fast mode")

"""``course results``: the grid, the CSV (resume, failures, interruption), shards and merge, RESULTS.md."""
from __future__ import annotations

import copy
import csv
import os
import subprocess
import sys

import pytest

from course_utils import config, data, results

pytestmark = pytest.mark.skipif(not (data.mnist_folder() / "t10k-images-idx3-ubyte.gz").exists(),
                                reason="needs the MNIST test files (COURSE_DATA_DIR)")

CHEAP = ["kmeans", "black", "copy-last"]


@pytest.fixture
def small(monkeypatch):
    """Fast mode on 300 images: the real functions, quicker."""
    fast = copy.deepcopy(results.SETTINGS["fast"])
    fast["n"] = 300
    fast["video"].update(n_train=20, n_test=10)
    monkeypatch.setitem(results.SETTINGS, "fast", fast)
    monkeypatch.setenv("COURSE_FAST", "1")


def _run(out, methods=CHEAP, seeds=(0, 1), **kw):
    return results.run(methods, list(seeds), out=out, progress=False, log=lambda line: None, **kw)


def test_every_method_names_a_registered_runner():
    """A method is one entry of METHODS: it names the function that runs it (and its variant)."""
    for mid, m in results.METHODS.items():
        assert m.runner in results._RUNNERS, (mid, m.runner)
        assert results._runner(mid) is results._RUNNERS[m.runner]
    assert results.METHODS["catgan20"].variant == "catgan" and results.METHODS["black"].variant == "black"


def test_methods_and_groups():
    assert results.resolve_methods(["dec", "kmeans"]) == ["kmeans", "dec"]          # the table's order
    assert set(results.resolve_methods(["week07"])) == {"copy-last", "black", "mean-inputs", "prednet", "convlstm"}
    assert results.resolve_methods(None) == list(results.METHODS)
    with pytest.raises(results.ResultsError, match="unknown method 'decc'.*Methods: kmeans"):
        results.resolve_methods(["decc"])
    every_week = {m.week for m in results.METHODS.values()}
    assert every_week == {"01", "02", "03", "04", "05", "06", "07"}
    assert all(results._runner(m) for m in results.METHODS)


@pytest.mark.parametrize("text", ["3", "0/2", "3/2", "a/b", "1/0"])
def test_bad_shard_says_how(text):
    with pytest.raises(results.ResultsError, match="--shard"):
        results.parse_shard(text)


def test_shards_split_the_grid_and_keep_shared_pretraining_together():
    methods, seeds = list(results.METHODS), [0, 1, 2]
    full = results.grid(methods, seeds)
    for n in (1, 2, 3, 5, 40):
        parts = [results.grid(methods, seeds, (i, n)) for i in range(1, n + 1)]
        assert sorted(r for p in parts for r in p) == sorted(full)          # every run once
        for p in parts:
            for m, s in p:      # a (seed, pretraining) unit is never split between two shards
                unit = (s, results.METHODS[m].needs)
                assert all((m2, s2) in p for m2, s2 in full if (s2, results.METHODS[m2].needs) == unit)


def test_runs_write_rows_skip_them_and_rerun(small, tmp_path):
    summary = _run(tmp_path)
    rows = results.read_rows(tmp_path / "results.csv")
    assert len(summary["ran"]) == 6 and not summary["failed"]
    assert {(r["method"], r["seed"]) for r in rows} == {(m, s) for m in CHEAP for s in ("0", "1")}
    km = [r for r in rows if r["method"] == "kmeans"]
    for r in km:
        assert r["status"] == "ok" and r["mode"] == "fast" and r["split"] == "test" and r["n"] == "300"
        assert 0.2 < float(r["acc"]) <= 1 and 0 < float(r["nmi"]) < 1 and float(r["params"]) == 10 * 784
        assert r["torch"] and r["commit"] and r["device"] == "cpu" and float(r["train_s"]) > 0
    black = [r for r in rows if r["method"] == "black"][0]
    assert float(black["mse_next"]) == pytest.approx(float(black["mse_10step"]))   # black ignores the inputs
    assert float(black["mse_next"]) > 0
    assert float([r for r in rows if r["method"] == "copy-last"][0]["mse_next"]) < float(black["mse_10step"]) * 2
    md = (tmp_path / "RESULTS.md").read_text()
    assert "k-means (pixels)" in md and "53.49" in md and "DEC paper" in md and "copy the last frame" in md
    assert (tmp_path / "embeddings").is_dir() and (tmp_path / "details").is_dir()

    again = _run(tmp_path)                               # resumes: nothing to do
    assert not again["ran"] and len(again["skipped"]) == 6
    assert results.read_rows(tmp_path / "results.csv") == rows
    redo = _run(tmp_path, methods=["kmeans"], seeds=[1], rerun=True)
    assert len(redo["ran"]) == 1 and len(results.read_rows(tmp_path / "results.csv")) == 6


def test_a_failure_is_recorded_and_the_others_go_on(small, tmp_path, monkeypatch):
    video = results._RUNNERS["video"]

    def diverges(method, ctx):
        if method.id == "black":
            raise FloatingPointError("loss is nan in epoch 3")
        return video(method, ctx)

    monkeypatch.setitem(results._RUNNERS, "video", diverges)
    summary = _run(tmp_path, seeds=[0])
    assert [r["method"] for r in summary["failed"]] == ["black"]
    rows = {r["method"]: r for r in results.read_rows(tmp_path / "results.csv")}
    assert rows["black"]["status"] == "failed" and "FloatingPointError: loss is nan in epoch 3" in rows["black"]["error"]
    assert rows["kmeans"]["status"] == rows["copy-last"]["status"] == "ok"
    assert "Runs that failed" in (tmp_path / "RESULTS.md").read_text()
    monkeypatch.undo()
    small_settings = copy.deepcopy(results.SETTINGS["fast"])                # the fixture's sizes again
    small_settings["n"] = 300
    small_settings["video"].update(n_train=20, n_test=10)
    monkeypatch.setitem(results.SETTINGS, "fast", small_settings)
    retry = _run(tmp_path, seeds=[0])                    # the next call retries only the failed run
    assert [r["method"] for r in retry["ran"]] == ["black"]
    assert all(r["status"] == "ok" for r in results.read_rows(tmp_path / "results.csv"))


def test_an_interrupted_grid_keeps_what_finished(small, tmp_path, monkeypatch):
    video = results._RUNNERS["video"]

    def interrupted(method, ctx):
        if method.id == "black":
            raise KeyboardInterrupt
        return video(method, ctx)

    monkeypatch.setitem(results._RUNNERS, "video", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, seeds=[0])
    assert [r["method"] for r in results.read_rows(tmp_path / "results.csv")] == ["kmeans", "copy-last"]


@pytest.mark.kernel
def test_an_unreadable_csv_is_reported_not_overwritten(tmp_path):
    (tmp_path / "results.csv").write_text("name,score\nx,1\n")
    with pytest.raises(results.ResultsError, match="not a results file"):
        results.read_rows(tmp_path / "results.csv")
    proc = subprocess.run([sys.executable, "-m", "course_utils", "results", "--out", str(tmp_path), "--methods",
                           "kmeans", "--no-progress"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not a results file" in proc.stderr
    assert (tmp_path / "results.csv").read_text() == "name,score\nx,1\n"
    proc = subprocess.run([sys.executable, "-m", "course_utils", "results", "--out", str(tmp_path), "--methods", "decc"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown method 'decc'" in proc.stderr


@pytest.mark.slow
@pytest.mark.kernel
def test_shards_then_merge_give_the_single_run_table(tmp_path):
    """The command line in fast mode: two shards and a merge equal one run of the same grid."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "course_utils", "results", "--methods", "kmeans", "black", "--seeds", "0", "1",
            "--no-progress"]
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    procs = [subprocess.Popen([*base, "--out", str(sharded), "--shard", f"{i}/2"], env=env) for i in (1, 2)]
    assert subprocess.run([*base, "--out", str(whole)], env=env, timeout=600).returncode == 0
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    assert not (sharded / "results.csv").exists()
    merged = subprocess.run([sys.executable, "-m", "course_utils", "results", "--merge", "--out", str(sharded)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert merged.returncode == 0 and "merged 2 shard file(s)" in merged.stdout

    def table(path):
        with open(path / "results.csv", newline="") as fh:
            return {(r["method"], r["seed"]): {k: r[k] for k in ("acc", "nmi", "ari", "majority_acc", "mse_next", "params")}
                    for r in csv.DictReader(fh)}

    assert table(whole) == table(sharded) and len(table(whole)) == 4

    def scores(path):  # the table's rows up to the lowest ACC (times differ from run to run)
        return [line.split("|")[:9] for line in (path / "RESULTS.md").read_text().splitlines() if line.startswith("| ")]

    assert scores(whole) == scores(sharded) and len(scores(whole)) == 4     # 2 headers, 2 methods


# --- the grid shipped with the course (course_utils/fast_results), which week 08 shows in CI ---

SCORES = ("acc", "majority_acc", "nmi", "ari", "ssim_next", "ssim_10step")   # in [0, 1]: 3 decimals shown
ERRORS = ("recon_mse", "mse_next", "mse_10step")


@pytest.fixture(scope="module")
def seed0_grid(tmp_path_factory):
    """Seed 0 of every method, through ``course results``' own ``run`` (fast mode): half the grid,
    outside any notebook cell's time limit."""
    out = tmp_path_factory.mktemp("seed0")
    summary = results.run(None, [0], full=False, out=out, progress=False, log=lambda line: None)
    assert not summary["failed"], [(r["method"], r["error"]) for r in summary["failed"]]
    return {r["method"]: r for r in results.read_rows(out / results.CSV_NAME)}, out


def test_the_shipped_grid_covers_every_method_and_seed():
    rows = results.read_rows(results.SHIPPED / results.CSV_NAME)
    fast = results.SETTINGS["fast"]
    assert {(r["method"], int(r["seed"])) for r in rows if r["status"] == "ok"} == \
           {(m, s) for m in results.METHODS for s in fast["seeds"]}, "remake it: course results --rerun --ship"
    assert {(r["mode"], r["split"], r["n"]) for r in rows} == {("fast", fast["split"], str(fast["n"]))}
    for m, method in results.METHODS.items():   # the predictors' per-step scores, for the first seed
        if method.kind == "predict":
            assert results.extras_path(results.SHIPPED, "details", "fast", fast["split"], m, min(fast["seeds"])).is_file(), m
    assert not list(results.SHIPPED.rglob("*.npz")), "embeddings and frames are data: they are not shipped"


@pytest.mark.slow
@pytest.mark.parametrize("method", list(results.METHODS))
def test_course_results_remakes_the_shipped_grid(seed0_grid, method):
    """The shipped rows are what the code computes now: seed 0 run again gives the same scores
    (to the third decimal that the notebook prints: another CPU may round the last bits apart)."""
    fresh, out = seed0_grid
    shipped = {r["method"]: r for r in results.read_rows(results.SHIPPED / results.CSV_NAME) if r["seed"] == "0"}
    new, old = fresh[method], shipped[method]
    assert (new["k"], new["params"]) == (old["k"], old["params"]), method
    for key in SCORES + ERRORS:
        if old[key] == "" or new[key] == "":
            assert old[key] == new[key], (method, key, old[key], new[key])
            continue
        a, b = float(new[key]), float(old[key])
        tol = 2e-3 if key in SCORES else 5e-3 * abs(b)
        assert abs(a - b) <= tol, (f"{method} {key}: {a} now, {b} in {results.SHIPPED.name}/; if the method "
                                   "changed on purpose, remake the grid: course results --rerun --ship")
    made = results.extras_path(out, "details", "fast", "test", method, 0)
    kept = results.extras_path(results.SHIPPED, "details", "fast", "test", method, 0)
    assert made.is_file() == kept.is_file(), (method, made, kept)


def test_ship_keeps_the_folders_readme(tmp_path):
    """--ship replaces the CSV, RESULTS.md and details/, and leaves the folder's README.md alone."""
    import shutil

    source = tmp_path / "results"
    shutil.copytree(results.SHIPPED, source)
    dest = tmp_path / "shipped"
    dest.mkdir()
    (dest / "README.md").write_text("keep me", encoding="utf-8")
    (dest / "details").mkdir()
    (dest / "details" / "stale.json").write_text("{}", encoding="utf-8")
    results.ship(source, dest)
    assert (dest / "README.md").read_text(encoding="utf-8") == "keep me"
    assert not (dest / "details" / "stale.json").exists()
    assert (dest / results.CSV_NAME).read_text() == (results.SHIPPED / results.CSV_NAME).read_text()


# --- the measured full-mode grid (course_utils/full_results), which week 08 quotes ---

def _readme_full_table() -> dict[str, list[str]]:
    """The README's full-mode tables (clustering and video), by method label: the cells of each row."""
    lines = (config.REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("### Full mode on the 10,000 test images"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("#"))
    rows = {}
    for line in lines[start:end]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("method", "predictor"):
            rows[cells[0]] = cells
    return rows


def test_the_full_mode_summary_covers_every_method_and_says_where_it_ran():
    entries = results.read_full_summary()
    assert [e["method"] for e in entries] == list(results.METHODS)
    for e in entries:
        assert e["seeds"] == [0, 1, 2] and e["split"] == "test" and e["n"] == "10000", e["method"]
        assert e["commit"] and e["date"] and "CPU" in e["machine"], e["method"]
        if results.METHODS[e["method"]].kind == "cluster":
            assert 0 < e["acc"] <= 1 and e["acc_sd"] >= 0 and len(e["k"]) == 3, e["method"]
        else:
            assert e["mse_next"] > 0 and e["mse_10step"] > 0, e["method"]


def test_the_full_mode_summary_is_the_readmes_table():
    """The README's full-mode table and the shipped summary are the same numbers (one of them was
    edited without the other otherwise)."""
    readme = _readme_full_table()
    entries = results.read_full_summary()
    assert {e["label"] for e in entries} == set(readme)
    for e in entries:
        cells = readme[e["label"]]
        if results.METHODS[e["method"]].kind == "cluster":
            assert cells[4] == results._pm(e, "acc") and cells[6] == results._pm(e, "nmi"), e["method"]
            assert cells[2].replace(" ", "") == "/".join(e["k"]), e["method"]
        else:
            assert cells[2] == results._pm(e, "mse_next", 1) and cells[4] == results._pm(e, "mse_10step", 1), e["method"]


def test_a_damaged_full_mode_summary_says_how_to_restore_it(tmp_path):
    bad = tmp_path / "summary.csv"
    bad.write_bytes(b"\xff\xfe not a csv \x00")
    with pytest.raises(results.ResultsError, match="git checkout"):
        results.read_full_summary(bad)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(results.ResultsError, match="full-mode summary"):
        results.read_full_summary(tmp_path / "other.csv")


# --- other datasets (--dataset) ---------------------------------------------------------------

def test_the_grid_runs_on_another_dataset_and_its_rows_say_which(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    lines: list[str] = []
    summary = results.run(["kmeans", "gmm", "prednet"], [0], dataset="digits", out=tmp_path, progress=False,
                          log=lines.append)
    rows = results.read_rows(tmp_path / results.CSV_NAME)
    assert [(r["method"], r["dataset"], r["split"], r["status"]) for r in rows] == \
           [("kmeans", "digits", "all", "ok"), ("gmm", "digits", "all", "ok")], "the video predictor is left out"
    assert not summary["failed"] and "scikit-learn's digits" in lines[0]
    assert 0.6 < float(rows[0]["acc"]) < 0.95                       # k-means on the 8x8 digits' pixels
    md = (tmp_path / results.MD_NAME).read_text()
    assert "scikit-learn's digits `all`" in md and "k-means (pixels)" in md
    # MNIST rows of the same methods do not count as done on digits, and the other way round
    assert results.summarize(rows, "fast", "all") == []
    assert [e["method"] for e in results.summarize(rows, "fast", "all", "digits")] == ["kmeans", "gmm"]


def test_a_wrong_dataset_name_is_named(tmp_path):
    with pytest.raises(results.ResultsError, match="--dataset 'fashion_mnist'.*did you mean 'fashion-mnist'"):
        results.run(["kmeans"], [0], dataset="fashion_mnist", out=tmp_path, progress=False, log=lambda s: None)
    with pytest.raises(results.ResultsError, match="Moving MNIST only"):
        results.run(["prednet"], [0], dataset="usps", out=tmp_path, progress=False, log=lambda s: None)


def test_a_results_file_from_before_datasets_reads_as_mnist(tmp_path):
    old = [c for c in results.COLUMNS if c != "dataset"]
    with open(tmp_path / results.CSV_NAME, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=old)
        w.writeheader()
        w.writerow({c: "" for c in old} | {"method": "kmeans", "seed": "0", "mode": "fast", "split": "test",
                                            "n": "2000", "status": "ok", "acc": "0.5"})
    rows = results.read_rows(tmp_path / results.CSV_NAME)
    assert rows[0]["dataset"] == "mnist" and results.summarize(rows, "fast", "test")[0]["acc"] == 0.5

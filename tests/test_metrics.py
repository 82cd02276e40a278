"""Tests for course_utils.metrics: Hungarian accuracy against brute force, sklearn agreement, input checks."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from course_utils import metrics
from course_utils.metrics import (
    ari,
    cluster_acc,
    cluster_mapping,
    evaluate,
    format_metrics,
    majority_acc,
    nmi,
)


def counts(y_true: np.ndarray, y_pred: np.ndarray, n_clusters: int, n_classes: int) -> np.ndarray:
    """w[cluster, class] with plain loops, independent of the implementation under test."""
    w = np.zeros((n_clusters, n_classes), dtype=int)
    for t, p in zip(y_true, y_pred):
        w[p, t] += 1
    return w


def brute_force_acc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Best accuracy over every injective matching between clusters and classes."""
    n_clusters, n_classes = int(y_pred.max()) + 1, int(y_true.max()) + 1
    w = counts(y_true, y_pred, n_clusters, n_classes)
    best = 0
    if n_clusters <= n_classes:  # each cluster -> a distinct class
        for classes in itertools.permutations(range(n_classes), n_clusters):
            best = max(best, sum(w[k, c] for k, c in enumerate(classes)))
    else:  # each class -> a distinct cluster; the other clusters are wrong
        for clusters in itertools.permutations(range(n_clusters), n_classes):
            best = max(best, sum(w[k, c] for c, k in enumerate(clusters)))
    return best / len(y_true)


def random_case(rng: np.random.Generator, n_classes: int, n_clusters: int, n: int = 40):
    y_true = rng.integers(0, n_classes, n)
    # correlated with y_true so the best matching is not trivial
    y_pred = np.where(rng.random(n) < 0.6, y_true % n_clusters, rng.integers(0, n_clusters, n))
    y_true[:n_classes] = np.arange(n_classes)  # every id occurs
    y_pred[n_classes : n_classes + n_clusters] = np.arange(n_clusters)
    return y_true, y_pred


# --- correctness ---------------------------------------------------------------------------


def test_perfect_clustering_scores_one():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    relabelled = np.array([2, 2, 0, 0, 1, 1, 1])
    for pred in (y, relabelled):
        assert cluster_acc(y, pred) == 1.0
        assert majority_acc(y, pred) == 1.0
        assert nmi(y, pred) == pytest.approx(1.0)
        assert ari(y, pred) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(5))
def test_scores_do_not_depend_on_cluster_numbering(seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = random_case(rng, n_classes=5, n_clusters=5, n=80)
    relabel = rng.permutation(5)
    before = evaluate(y_true, y_pred, majority=True)
    after = evaluate(y_true, relabel[y_pred], majority=True)
    assert after == pytest.approx(before)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("seed", range(4))
def test_cluster_acc_equals_brute_force_over_permutations(k, seed):
    rng = np.random.default_rng(100 * k + seed)
    y_true, y_pred = random_case(rng, n_classes=k, n_clusters=k)
    best = max(
        np.mean(np.array(perm)[y_pred] == y_true) for perm in itertools.permutations(range(k))
    )
    assert cluster_acc(y_true, y_pred) == pytest.approx(best)


@pytest.mark.parametrize(
    "n_classes, n_clusters", [(2, 4), (3, 5), (3, 6), (4, 2), (5, 3), (5, 1), (1, 3)]
)
@pytest.mark.parametrize("seed", range(3))
def test_rectangular_cluster_acc_equals_brute_force(n_classes, n_clusters, seed):
    rng = np.random.default_rng(1000 * n_classes + 10 * n_clusters + seed)
    y_true, y_pred = random_case(rng, n_classes, n_clusters)
    assert cluster_acc(y_true, y_pred) == pytest.approx(brute_force_acc(y_true, y_pred))


@pytest.mark.parametrize("n_classes, n_clusters", [(4, 4), (3, 6), (6, 3)])
def test_cluster_mapping_is_one_to_one_and_gives_cluster_acc(n_classes, n_clusters):
    rng = np.random.default_rng(7)
    y_true, y_pred = random_case(rng, n_classes, n_clusters, n=60)
    mapping = cluster_mapping(y_true, y_pred)
    assert len(mapping) == min(n_classes, n_clusters)
    assert len(set(mapping.values())) == len(mapping)  # one-to-one
    assert all(isinstance(k, int) and isinstance(v, int) for k, v in mapping.items())
    mapped = np.array([mapping.get(int(k), -1) for k in y_pred])
    assert np.mean(mapped == y_true) == pytest.approx(cluster_acc(y_true, y_pred))


def test_ids_need_not_be_contiguous():
    y_true = np.array([0, 0, 3, 3, 7, 7])
    y_pred = np.array([9, 9, 2, 2, 5, 5])
    assert cluster_acc(y_true, y_pred) == 1.0
    assert cluster_mapping(y_true, y_pred) == {9: 0, 2: 3, 5: 7}


def test_majority_acc_hand_example():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2]
    y_pred = [0, 0, 1, 1, 1, 2, 2, 3]
    # cluster 0 -> class 0 (2 right), 1 -> 1 (2), 2 -> 2 (2), 3 -> 2 (1): 7 of 8
    assert majority_acc(y_true, y_pred) == pytest.approx(7 / 8)
    # one-to-one: cluster 3 stays unmatched, so its point counts as wrong
    assert cluster_acc(y_true, y_pred) == pytest.approx(6 / 8)
    assert cluster_mapping(y_true, y_pred) == {0: 0, 1: 1, 2: 2}


@pytest.mark.parametrize("method", ["arithmetic", "geometric", "min", "max"])
def test_nmi_and_ari_agree_with_sklearn(method):
    rng = np.random.default_rng(3)
    y_true, y_pred = random_case(rng, n_classes=4, n_clusters=6, n=200)
    assert nmi(y_true, y_pred, average_method=method) == pytest.approx(
        normalized_mutual_info_score(y_true, y_pred, average_method=method)
    )
    assert ari(y_true, y_pred) == pytest.approx(adjusted_rand_score(y_true, y_pred))


def test_nmi_default_is_arithmetic_and_bad_method_is_explained():
    rng = np.random.default_rng(4)
    y_true, y_pred = random_case(rng, n_classes=3, n_clusters=3, n=100)
    assert nmi(y_true, y_pred) == pytest.approx(
        normalized_mutual_info_score(y_true, y_pred, average_method="arithmetic")
    )
    with pytest.raises(ValueError, match="average_method='mean'.*geometric"):
        nmi(y_true, y_pred, average_method="mean")


def test_evaluate_and_format_metrics():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2]
    y_pred = [0, 0, 1, 1, 1, 2, 2, 3]
    result = evaluate(y_true, y_pred)
    assert list(result) == ["acc", "nmi", "ari"]
    assert all(type(v) is float for v in result.values())
    assert result["acc"] == pytest.approx(0.75)
    assert evaluate(y_true, y_pred, majority=True)["majority_acc"] == pytest.approx(0.875)
    assert format_metrics({"acc": 0.5423, "nmi": 0.5, "ari": 0.3614}) == "ACC 0.542 | NMI 0.500 | ARI 0.361"
    assert format_metrics({"loss": np.float32(1.23456), "acc": torch.tensor(0.5)}, digits=2) == (
        "loss 1.23 | ACC 0.50"
    )
    assert format_metrics({"majority_acc": 0.9}) == "majority ACC 0.900"
    with pytest.raises(TypeError, match="dict"):
        format_metrics([0.5])


# --- inputs ----------------------------------------------------------------------------------


def test_torch_list_tuple_and_whole_float_inputs():
    y = [0, 1, 1, 2, 2, 2]
    p = [1, 0, 0, 2, 2, 1]
    expected = cluster_acc(np.array(y), np.array(p))
    assert cluster_acc(torch.tensor(y), torch.tensor(p)) == expected
    assert cluster_acc(tuple(y), p) == expected
    assert cluster_acc(np.array(y, dtype=np.uint8), torch.tensor(p, dtype=torch.int32)) == expected
    whole = torch.tensor(p, dtype=torch.float32, requires_grad=True)
    assert cluster_acc(y, whole) == expected
    assert cluster_acc(np.array(y, dtype=float), p) == expected
    assert evaluate(torch.tensor(y), p)["acc"] == expected


@pytest.mark.parametrize(
    "y_true, y_pred, error, pattern",
    [
        ([0, 1, 2], [0, 1], ValueError, r"y_true has 3 labels but y_pred has 2"),
        ([], [], ValueError, r"y_true is empty"),
        ([0, 1, 1], [0, 0.5, 1], ValueError, r"y_pred\[1\] = 0.5 is not a whole number: labels must be integers"),
        ([0, 1, 1], [0, 1, -1], ValueError, r"y_pred\[2\] = -1 is negative"),
        ([0, -3, 1], [0, 1, 1], ValueError, r"y_true\[1\] = -3 is negative"),
        ([0, 1, 1], [0, float("nan"), 1], ValueError, r"y_pred contains 1 NaN/inf.*y_pred\[1\]"),
        (np.zeros((4, 3)), [0, 1, 2, 0], ValueError, r"y_true has shape \(4, 3\).*argmax"),
        ([0, 1, 2, 0], np.zeros((4, 1), dtype=int), ValueError, r"y_pred has shape \(4, 1\).*ravel"),
        (["a", "b"], [0, 1], TypeError, r"y_true has dtype <U1; labels must be integers"),
        ([0, 1], [0, None], ValueError, r"y_pred\[1\] is None"),
        ([0, 1], [0, object()], TypeError, r"y_pred holds values that are not numbers"),
        (None, [0, 1], TypeError, r"y_true is None"),
        ({0: 1}, [0, 1], TypeError, r"y_true is a dict"),
        ([0, 1], 1, TypeError, r"y_pred is a int"),
        ([0, 1, 1], [[0], [1, 1], [2]], ValueError, r"y_pred cannot be read as an array"),
    ],
)
def test_bad_inputs_raise_with_clear_messages(y_true, y_pred, error, pattern):
    for fn in (cluster_acc, cluster_mapping, majority_acc, nmi, ari, evaluate):
        with pytest.raises(error, match=pattern):
            fn(y_true, y_pred)


def test_torch_soft_assignments_are_rejected_with_hint():
    probs = torch.softmax(torch.randn(5, 3), dim=1)
    with pytest.raises(ValueError, match=r"argmax\(dim=1\)"):
        cluster_acc([0, 1, 2, 0, 1], probs)


def test_contingency_counts():
    w, clusters, classes = metrics.contingency([0, 0, 5, 5, 5], [2, 1, 1, 1, 1])
    assert clusters.tolist() == [1, 2] and classes.tolist() == [0, 5]
    assert w.tolist() == [[1, 3], [1, 0]]


def test_neighbourhood_preservation():
    from course_utils.metrics import neighbourhood_preservation

    rng = np.random.default_rng(0)
    A = rng.normal(size=(300, 4))
    assert neighbourhood_preservation(A, A) == 1.0
    assert neighbourhood_preservation(A, 3 * A - 1) == 1.0                  # scaling and shifting keep neighbours
    assert neighbourhood_preservation(A, A[:, ::-1], k=5) == 1.0            # so do rotations/permutations of axes
    assert neighbourhood_preservation(A, rng.normal(size=(300, 2))) < 0.1   # unrelated: about k / N
    slightly = neighbourhood_preservation(A, A + 0.05 * rng.normal(size=A.shape))
    badly = neighbourhood_preservation(A, A + 0.5 * rng.normal(size=A.shape))
    assert 1.0 > slightly > badly
    # by hand: on a line 0, 1, 3, 7 the nearest neighbours are 1, 0, 1, 3; reversed order keeps them all
    line = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert neighbourhood_preservation(line, -line, k=1) == 1.0
    # moving the point at 1 to 5: only the point at 3 keeps its nearest neighbour (the moved one)
    assert neighbourhood_preservation(line, np.array([[0.0], [5.0], [3.0], [7.0]]), k=1) == 0.25
    with pytest.raises(ValueError, match="same N"):
        neighbourhood_preservation(A, A[:10])
    with pytest.raises(ValueError, match="k="):
        neighbourhood_preservation(A, A, k=300)

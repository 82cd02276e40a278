"""What crosses between the grader's kernels: plain data only (no kernel needed here)."""
from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture
from torch import nn

from course_utils.instructor.grading import plain
from course_utils.instructor.grading.bridge import _student_exception
from course_utils.models.gan import LinearCodeDiscriminator
from course_utils.models.vade import VaDE


def roundtrip(value, handles=None):
    packer = plain.Packer()
    spec = packer.encode(value)
    data = plain.dumps({"v": spec}, packer.arrays)
    path = io.BytesIO(data)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "__message__"}
    return plain.Unpacker(arrays).decode(spec)


def test_plain_values_keep_types_dtypes_shapes_and_gradient_flags():
    value = {
        "ints": [1, -2, True, None, "text"], "float": 0.1, "nan": float("nan"),
        "array": np.arange(6, dtype=np.int16).reshape(2, 3), "scalar": np.float32(2.5),
        "tensor": torch.tensor([[1.0, 2.0]], dtype=torch.float64, requires_grad=True),
        "zero_d": torch.tensor(3.0), "int_tensor": torch.tensor([1, 2]), "dtype": torch.float16,
        "size": torch.Size([2, 3]), "tuple": (1, (2, [3.0])),
    }
    got = roundtrip(value)
    assert got["ints"] == [1, -2, True, None, "text"] and type(got["ints"][2]) is bool
    assert got["float"] == 0.1 and np.isnan(got["nan"])
    assert got["array"].dtype == np.int16 and got["array"].shape == (2, 3)
    assert isinstance(got["scalar"], np.float32) and got["scalar"] == 2.5
    assert got["tensor"].dtype == torch.float64 and got["tensor"].requires_grad
    assert got["zero_d"].shape == () and got["int_tensor"].dtype == torch.int64
    assert got["dtype"] is torch.float16 and got["size"] == torch.Size([2, 3])
    assert got["tuple"] == (1, (2, [3.0]))


def test_a_value_that_is_not_plain_data_is_refused():
    class Anything:
        def __eq__(self, other):
            return True

    for value in (Anything(), np.array([object()], dtype=object), {1, 2}, lambda: 1):
        with pytest.raises(plain.NotPlainData):
            plain.Packer().encode(value)


def test_an_opaque_stand_in_fails_every_use():
    opaque = plain.Unpacker({}).decode({"t": "opaque", "type": "AlwaysEqual"})
    for use in (lambda o: o == 1, lambda o: bool(o), lambda o: float(o), lambda o: o.shape,
                lambda o: np.allclose(o, 1), lambda o: list(o), lambda o: o()):
        with pytest.raises((plain.NotPlainData, TypeError)):
            use(opaque)


def test_reading_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "1.reply.npz"
    np.savez(path, __message__=np.array('{"ok": true}'), a0=np.array([Evil()], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        plain.read(path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps({"ok": True}))
    with pytest.raises(Exception):
        plain.read(path)
    assert not marker.exists()


def test_malformed_messages_are_refused():
    for spec in ({"t": "py", "v": [1]}, {"t": "tensor", "a": "a9", "dtype": "float32"},
                 {"t": "dtype", "v": "os.system"}, {"t": "nope"}, "x", {"t": "dict", "v": [[{"t": "list", "v": []}, {"t": "py", "v": 1}]]}):
        with pytest.raises(plain.NotPlainData):
            plain.Unpacker({}).decode(spec)


def test_course_modules_travel_as_recipe_and_tensors():
    torch.manual_seed(0)
    for module in (VaDE(8, (4,), 2, 3), LinearCodeDiscriminator([1.0, -2.0], 0.5, True),
                   nn.Sequential(nn.Linear(3, 2), nn.LeakyReLU(0.1), nn.Flatten(0))):
        packer = plain.Packer()
        spec = packer.module(module)
        rebuilt = plain.build_module(spec["recipe"])
        assert type(rebuilt) is type(module)
        assert [k for k, _ in rebuilt.named_parameters()] == [k for k, _ in module.named_parameters()]
    with pytest.raises(plain.NotPlainData, match="cannot be sent"):
        plain.module_recipe(type("Mine", (nn.Module,), {})())


def test_a_fitted_mixture_comes_back_as_the_same_mixture():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-3, 1, (50, 2)), rng.normal(3, 1, (50, 2))])
    gmm = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    got = roundtrip(gmm)
    assert type(got) is GaussianMixture and got is not gmm
    assert np.array_equal(got.predict(X), gmm.predict(X)) and np.allclose(got.means_, gmm.means_)


def test_a_student_error_comes_back_by_name_and_message_only():
    exc = _student_exception({"ename": "ValueError", "base": "ValueError", "evalue": "bad shape"})
    assert type(exc) is ValueError and str(exc) == "bad shape"
    exc = _student_exception({"ename": "MyError", "base": "KeyError", "evalue": "x"})
    assert isinstance(exc, KeyError) and type(exc).__name__ == "MyError"
    exc = _student_exception({"ename": "Evil; import os", "base": "__import__", "evalue": "y"})
    assert type(exc).__name__ == "Evilimportos" and isinstance(exc, Exception)
    assert isinstance(_student_exception({"ename": "NotImplementedError", "base": "NotImplementedError",
                                          "evalue": ""}), NotImplementedError)

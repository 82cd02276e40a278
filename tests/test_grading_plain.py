"""What crosses between the grader's kernels: plain data only (no kernel needed here)."""
from __future__ import annotations

import io
import os
import pickle
import resource
import struct
import sys
import threading
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

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
    with pytest.raises(plain.NotPlainData, match="dtype object is not plain data"):
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


# --------------------------------------------------------------------------------------------
# Message files: the sandbox writes the replies, and can plant files and links where they go
# --------------------------------------------------------------------------------------------

def _npy(array=None, *, header=None, data=b"", version=(1, 0)):
    """The bytes of one .npy member: a real array, or a hand-made header followed by ``data``."""
    out = io.BytesIO()
    if array is not None:
        np.lib.format.write_array(out, array, allow_pickle=False)
        return out.getvalue()
    writer = {(1, 0): np.lib.format.write_array_header_1_0,
              (2, 0): np.lib.format.write_array_header_2_0}[version]
    writer(out, header)
    out.write(data)
    return out.getvalue()


def _npz(path, members, message='{"ok": true}', compression=zipfile.ZIP_STORED):
    """An .npz file of the given members (name -> .npy bytes), plus a message unless it is None."""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        if message is not None:
            zf.writestr("__message__.npy", _npy(np.array(message)))
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _peak_rss_bytes():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def test_a_message_file_round_trips_every_plain_dtype_and_a_unicode_message(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "bool": np.array([True, False, True]), "i1": np.arange(-3, 3, dtype=np.int8),
        "u2": np.arange(5, dtype=np.uint16), "i8": np.array([[-(2**62), 2**62]]),
        "f2": np.array([0.5, -1.25], dtype=np.float16), "f4": rng.standard_normal((3, 4), dtype=np.float32),
        "f8_big_endian": np.arange(4, dtype=">f8"), "c8": np.array([1 + 2j], dtype=np.complex64),
        "c16": rng.standard_normal(3) * 1j, "text": np.array(["é", "日本語", "🎉"]),
        "zero_d": np.array(2.5), "empty": np.zeros((0, 3), dtype=np.int32),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "large": rng.standard_normal(1_000_003).astype(np.float32),   # several copy chunks, odd size
    }
    message = {"text": "héllo ✓ 日本語 🎉", "n": [1, 2.5, None, True], "nested": {"k": ["v"]}}
    path = tmp_path / "1.reply.npz"
    plain.write(path, message, arrays)
    got_message, got = plain.read(path)
    assert got_message == message and set(got) == set(arrays)
    for key, array in arrays.items():
        assert got[key].dtype == array.dtype and got[key].shape == array.shape, key
        assert np.array_equal(got[key], array), key
        assert got[key].flags.writeable, key
    assert got["fortran"].flags.f_contiguous
    with np.load(path, allow_pickle=False) as npz:   # the same arrays np.load reads
        assert all(np.array_equal(npz[k], got[k]) for k in arrays)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.reply.npz"]   # no temporary file left


def test_a_value_round_trips_through_a_message_file(tmp_path):
    value = {"array": np.arange(6, dtype=np.int16).reshape(2, 3), "scalar": np.float32(2.5),
             "tensor": torch.tensor([[1.0, 2.0]], dtype=torch.float64, requires_grad=True),
             "text": "ünïcode", "tuple": (1, (2, [3.0]))}
    packer = plain.Packer()
    spec = packer.encode(value)
    plain.write(tmp_path / "1.request.npz", {"v": spec}, packer.arrays)
    message, arrays = plain.read(tmp_path / "1.request.npz")
    got = plain.Unpacker(arrays).decode(message["v"])
    assert np.array_equal(got["array"], value["array"]) and got["array"].dtype == np.int16
    assert isinstance(got["scalar"], np.float32) and got["text"] == "ünïcode"
    assert got["tensor"].dtype == torch.float64 and got["tensor"].requires_grad
    assert got["tuple"] == (1, (2, [3.0]))


def test_a_zip_bomb_is_refused_before_it_inflates(tmp_path):
    # a 2 GiB array of zeros, deflated to about 9 MB; never held in memory while it is built
    path = tmp_path / "1.reply.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("__message__.npy", _npy(np.array('{"ok": true}')))
        with zf.open("a0.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(
                member, {"descr": "|u1", "fortran_order": False, "shape": (2**31,)})
            zeros = bytes(16 * 2**20)
            for _ in range(2**31 // len(zeros)):
                member.write(zeros)
        del zeros
    assert path.stat().st_size < plain.MAX_BYTES
    rss, start = _peak_rss_bytes(), time.perf_counter()
    with pytest.raises(plain.NotPlainData, match="inflates|inflated"):
        plain.read(path)
    assert time.perf_counter() - start < 5
    assert _peak_rss_bytes() - rss < 200 * 2**20


def test_an_array_that_inflates_absurdly_is_refused_even_under_the_total_cap(tmp_path):
    path = tmp_path / "1.reply.npz"
    _npz(path, {"a0.npy": _npy(np.zeros(8 * 2**20, dtype=np.uint8))}, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(plain.NotPlainData, match="inflates"):
        plain.read(path)
    # a compressed message that inflates reasonably is still read
    rng = np.random.default_rng(0)
    np.savez_compressed(path, __message__=np.array('{"ok": true}'), a0=rng.standard_normal(1000))
    assert plain.read(path)[1]["a0"].shape == (1000,)


def test_the_caps_on_inflated_size_members_file_size_and_message_length(tmp_path, monkeypatch):
    path = tmp_path / "1.reply.npz"
    plain.write(path, {"ok": True}, {"a0": np.zeros(2**20, dtype=np.uint8)})
    monkeypatch.setattr(plain, "MAX_INFLATED", 2**20)
    with pytest.raises(plain.NotPlainData, match="inflated"):
        plain.read(path)
    monkeypatch.undo()

    monkeypatch.setattr(plain, "MAX_BYTES", 2**20)
    with pytest.raises(plain.NotPlainData, match="larger than the grader accepts"):
        plain.read(path)
    monkeypatch.undo()

    monkeypatch.setattr(plain, "MAX_MEMBERS", 5)
    plain.write(path, {"ok": True}, {f"a{i}": np.zeros(1) for i in range(4)})   # 5 members with the message
    assert len(plain.read(path)[1]) == 4
    plain.write(path, {"ok": True}, {f"a{i}": np.zeros(1) for i in range(5)})
    with pytest.raises(plain.NotPlainData, match="arrays is more than"):
        plain.read(path)
    # far too many: refused from the zip's end record, before zipfile builds an entry per member
    plain.write(path, {"ok": True}, {f"a{i}": np.zeros(1) for i in range(40)})

    def no_parse(*args, **kwargs):
        raise AssertionError("the central directory was parsed")

    monkeypatch.setattr(zipfile, "ZipFile", no_parse)
    with pytest.raises(plain.NotPlainData, match="arrays is more than"):
        plain.read(path)
    monkeypatch.undo()

    monkeypatch.setattr(plain, "MAX_MESSAGE_CHARS", 100)
    plain.write(path, {"text": "x" * 101}, {})
    with pytest.raises(plain.NotPlainData, match="characters is larger"):
        plain.read(path)


def test_a_huge_shape_over_little_data_is_refused_without_allocating(tmp_path):
    path = tmp_path / "1.reply.npz"
    for shape, descr in (((2**27,), "<f8"), ((2**40, 2**40), "<f8"), ((2**20, 0, -5), "<f4"),
                         ((-1, -8), "|u1"), ((2**60,), "<U1")):
        header = {"descr": descr, "fortran_order": False, "shape": shape}
        _npz(path, {"a0.npy": _npy(header=header, data=bytes(64))})
        tracemalloc.start()   # NumPy reports its array buffers to tracemalloc
        try:
            with pytest.raises(plain.NotPlainData, match="declares shape|shape"):
                plain.read(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 8 * 2**20, (shape, peak)


def test_an_array_must_hold_exactly_the_bytes_its_header_declares(tmp_path):
    path = tmp_path / "1.reply.npz"
    header = {"descr": "<f8", "fortran_order": False, "shape": (4,)}
    for data in (bytes(31), bytes(33), bytes(0)):
        _npz(path, {"a0.npy": _npy(header=header, data=data)})
        with pytest.raises(plain.NotPlainData, match="declares shape"):
            plain.read(path)
    _npz(path, {"a0.npy": _npy(header=header, data=np.arange(4.0).tobytes())})
    assert np.array_equal(plain.read(path)[1]["a0"], np.arange(4.0))


def test_object_structured_and_other_dtypes_are_refused_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "1.reply.npz"
    pickled = io.BytesIO()
    np.lib.format.write_array(pickled, np.array([Evil()], dtype=object), allow_pickle=True)
    for descr, data in (("|O", pickled.getvalue()[128:]), ("|O", bytes(8)),
                        ([("a", "<f4"), ("b", "|O")], bytes(12)), ([("a", "<f4")], bytes(4)),
                        ("|V8", bytes(8)), ("<M8[s]", bytes(8)), ("<m8[s]", bytes(8)), ("|S4", bytes(4))):
        header = {"descr": descr, "fortran_order": False, "shape": (1,)}
        _npz(path, {"a0.npy": _npy(header=header, data=data)})
        with pytest.raises(plain.NotPlainData, match="not plain data"):
            plain.read(path)
    _npz(path, {"a0.npy": pickled.getvalue()})
    with pytest.raises(plain.NotPlainData, match="not plain data"):
        plain.read(path)
    assert not marker.exists()


def test_malformed_files_and_messages_are_refused(tmp_path):
    path = tmp_path / "1.reply.npz"
    good = {"descr": "<f8", "fortran_order": False, "shape": (1,)}
    cases = {
        "pickle": pickle.dumps({"ok": True}),
        "not a zip": b"PK\x03\x04 nothing of a zip",
        "empty": b"",
        "version 3": _npy(header=good, data=bytes(8)).replace(b"NUMPY\x01\x00", b"NUMPY\x03\x00", 1),
        "bad magic": b"\x93NUMPZ" + _npy(header=good, data=bytes(8))[6:],
        "huge header": _npy(header={**good, "shape": (1,) + (0,) * 2000}, data=b"", version=(2, 0)),
    }
    for name, data in cases.items():
        if name in ("pickle", "not a zip", "empty"):
            path.write_bytes(data)
        else:
            _npz(path, {"a0.npy": data})
        with pytest.raises(plain.NotPlainData):
            plain.read(path)
    _npz(path, {"a0.txt": b"raw bytes, not an array"})
    with pytest.raises(plain.NotPlainData, match="unexpected member"):
        plain.read(path)
    for message in ("[1, 2]", "not json", "[" * 100_000 + "]" * 100_000, None):
        _npz(path, {}, message=message)
        with pytest.raises(plain.NotPlainData, match="malformed"):
            plain.read(path)
    not_unicode = {"descr": "<U2", "fortran_order": False, "shape": ()}
    _npz(path, {"__message__.npy": _npy(header=not_unicode, data=struct.pack("<2I", 0x7B, 0x110000))},
         message=None)
    with pytest.raises(plain.NotPlainData, match="not unicode"):
        plain.read(path)
    not_unicode = {"descr": ">U1", "fortran_order": False, "shape": (2,)}
    _npz(path, {"a0.npy": _npy(header=not_unicode, data=struct.pack(">2I", 0x41, 0xFFFFFFFF))})
    with pytest.raises(plain.NotPlainData, match="not unicode"):
        plain.read(path)
    with pytest.raises(FileNotFoundError):
        plain.read(tmp_path / "absent.npz")


def test_duplicate_members_are_refused(tmp_path):
    path = tmp_path / "1.reply.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("__message__.npy", _npy(np.array('{"ok": true}')))
            zf.writestr("a0.npy", _npy(np.zeros(1)))
            zf.writestr("a0.npy", _npy(np.ones(1)))
    with pytest.raises(plain.NotPlainData, match="unexpected member"):
        plain.read(path)


def test_only_a_regular_file_is_read_never_a_link_a_fifo_or_a_device(tmp_path):
    real = tmp_path / "elsewhere.npz"
    plain.write(real, {"ok": True}, {"a0": np.arange(3)})
    assert plain.read(real)[0] == {"ok": True}
    link = tmp_path / "1.reply.npz"
    link.symlink_to(real)
    with pytest.raises(plain.NotPlainData, match="symbolic link"):
        plain.read(link)
    zero = tmp_path / "2.reply.npz"
    zero.symlink_to("/dev/zero")
    with pytest.raises(plain.NotPlainData, match="symbolic link"):
        plain.read(zero)
    with pytest.raises(plain.NotPlainData, match="not a regular file"):
        plain.read(Path("/dev/zero"))
    folder = tmp_path / "3.reply.npz"
    folder.mkdir()
    with pytest.raises(plain.NotPlainData, match="not a regular file"):
        plain.read(folder)

    fifo = tmp_path / "4.reply.npz"
    os.mkfifo(fifo)
    outcome = []

    def read_fifo():
        try:
            plain.read(fifo)
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    reader = threading.Thread(target=read_fifo, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():   # release the reader blocked in open() before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO hung")
    assert len(outcome) == 1 and isinstance(outcome[0], plain.NotPlainData), outcome
    assert "not a regular file" in str(outcome[0])


def test_write_never_follows_a_link_planted_at_a_temporary_name(tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "precious.txt"
    target.write_text("precious")
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    destination = exchange / "1.request.npz"
    planted = {}
    # the old predictable name, and the first random names write will draw (forced here)
    names = iter(["0" * 16, "1" * 16, "2" * 16])
    monkeypatch.setattr(plain.secrets, "token_hex", lambda n: next(names))
    for name, to in (("1.request.npz.part", target), (".1.request.npz.part", target),
                     (".1.request.npz." + "0" * 16 + ".part", target),
                     (".1.request.npz." + "1" * 16 + ".part", outside / "created.txt")):   # dangling
        (exchange / name).symlink_to(to)
        planted[name] = to
    plain.write(destination, {"text": "new"}, {"a0": np.arange(3)})
    assert target.read_text() == "precious" and not (outside / "created.txt").exists()
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    for name, to in planted.items():   # left alone: neither followed nor removed
        assert (exchange / name).is_symlink() and os.readlink(exchange / name) == str(to)
    assert not destination.is_symlink() and destination.is_file()
    message, arrays = plain.read(destination)
    assert message == {"text": "new"} and np.array_equal(arrays["a0"], np.arange(3))
    assert sorted(p.name for p in exchange.iterdir()) == sorted([*planted, "1.request.npz"])


def test_write_gives_up_when_every_temporary_name_is_taken(tmp_path, monkeypatch):
    target = tmp_path / "precious.txt"
    target.write_text("precious")
    monkeypatch.setattr(plain.secrets, "token_hex", lambda n: "f" * 16)
    (tmp_path / (".1.request.npz." + "f" * 16 + ".part")).symlink_to(target)
    with pytest.raises(FileExistsError):
        plain.write(tmp_path / "1.request.npz", {"ok": True}, {})
    assert target.read_text() == "precious" and not (tmp_path / "1.request.npz").exists()


def test_write_replaces_a_link_at_the_destination_without_following_it(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("precious")
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    destination = exchange / "1.reply.npz"
    destination.symlink_to(target)
    plain.write(destination, {"ok": True}, {"a0": np.ones(2)})
    assert target.read_text() == "precious"
    assert not destination.is_symlink() and destination.is_file()
    assert plain.read(destination)[0] == {"ok": True}
    assert sorted(p.name for p in exchange.iterdir()) == ["1.reply.npz"]


def test_write_removes_its_temporary_file_when_it_fails(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no rename today")

    monkeypatch.setattr(plain.os, "replace", refuse)
    with pytest.raises(OSError, match="no rename today"):
        plain.write(tmp_path / "1.reply.npz", {"ok": True}, {"a0": np.ones(2)})
    assert list(tmp_path.iterdir()) == []

"""Peak memory of a block of code, for ``course results`` and the checkpoint cache.

``PeakMemory(device)`` is a context manager: on CUDA the most PyTorch allocated above what it held
at the start; on Linux the process' peak resident memory above its resident memory at the start
(the kernel's high-water mark ``VmHWM``, reset first through ``/proc/self/clear_refs``); elsewhere
the process' peak since it started. Blocks may nest (the cache measures a training inside a run
that ``course results`` measures): an inner block reads the high-water mark before it resets it,
and hands it to the blocks around it, so the outer peak still counts what came before.

It sits below ``models/`` (it imports nothing of the course), beside the cache that uses it.
"""
from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

__all__ = ["PeakMemory", "release_freed_memory"]

#: The blocks open now, outermost first.
_OPEN: list["PeakMemory"] = []


def release_freed_memory(collect: bool = True) -> None:
    """Give memory freed by earlier work back to the system, so the next block's peak is its own
    (``collect``: run Python's garbage collector first, which frees tensors held in cycles; it
    takes a tenth of a second or more in a large process)."""
    if collect:
        gc.collect()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass


def _status(field_name: str) -> float | None:
    """A field of ``/proc/self/status`` in MiB (None where there is no such file or field)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return float(line.split()[1]) / 1024.0  # kB -> MiB
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak memory of a block in MiB (``.mb``; NaN when not measured) and how it was measured
    (``.how``)."""

    def __init__(self, device: str = "cpu", collect: bool = True) -> None:
        self.device = str(device)
        self.collect = bool(collect)
        self.mb = float("nan")
        self.how = ""
        self._seen = 0.0       # the highest resident memory read before an inner block reset the mark

    def __enter__(self) -> "PeakMemory":
        self._cuda = self.device.startswith("cuda")
        if self._cuda:
            import torch

            torch.cuda.synchronize()
            # PyTorch keeps one peak counter: only the outermost block resets it, so an inner block's
            # peak may include what an outer one reached before it (never less than its own)
            if not any(b._cuda for b in _OPEN):
                torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
            _OPEN.append(self)
            return self
        self._reset = False
        release_freed_memory(self.collect)
        mark = _status("VmHWM")
        for outer in _OPEN:      # before the reset: what the outer blocks have reached so far
            if mark is not None:
                outer._seen = max(outer._seen, mark)
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._reset = True
        except OSError:
            pass
        self._base = _status("VmRSS")
        _OPEN.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self in _OPEN:
            _OPEN.remove(self)
        if self._cuda:
            import torch

            torch.cuda.synchronize()
            self.mb = (torch.cuda.max_memory_allocated() - self._base) / 2 ** 20
            self.how = "CUDA peak allocated above the start"
            return
        peak = _status("VmHWM")
        if self._reset and peak is not None and self._base is not None:
            self.mb = max(max(peak, self._seen) - self._base, 0.0)
            self.how = "peak resident memory above the start"
            return
        try:
            import resource

            scale = 1 / 2 ** 20 if sys.platform == "darwin" else 1 / 1024
            self.mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
            self.how = "process peak resident memory since it started"
        except ImportError:  # Windows
            self.how = "not measured"

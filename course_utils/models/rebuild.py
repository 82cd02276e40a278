"""Modules that can be rebuilt from plain data: their constructor's arguments, kept on the instance.

``course grade`` runs a student's code in a sandboxed kernel and the tests in another one. A test
that hands a model of the course to a student's function (``init_gmm(model, Z, seed)``) sends the
model across as plain data: the class's dotted name, the arguments it was built with, and its
tensors. ``@records_init_args`` keeps those arguments as ``module.init_kwargs``.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any


def records_init_args(cls: type) -> type:
    """Class decorator: ``instance.init_kwargs`` holds the arguments ``__init__`` was called with."""
    init = cls.__init__
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        init(self, *args, **kwargs)
        arguments = dict(bound.arguments)
        arguments.pop(next(iter(signature.parameters)))   # self
        object.__setattr__(self, "init_kwargs", arguments)

    cls.__init__ = __init__
    return cls

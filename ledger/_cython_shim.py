"""What the ledger's compiled modules use of Cython's pure-Python mode, for when they run as
plain Python and Cython is not installed (it is a build requirement, not a runtime one).

Compiled, ``import cython`` is resolved by the compiler and this module is never imported;
uncompiled with Cython installed, Cython's own shadow module is used. Either way the type
declarations below change nothing a program can observe (``tests/ledger/test_compiled.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

compiled = False
longlong = int


def cclass(cls: Any) -> Any:
    """``@cython.cclass``: an extension type when compiled."""
    return cls


def declare(_type: object, value: Any = None, **_options: object) -> Any:
    """``cython.declare(type[, value], visibility=…)``: compiled, a typed variable (or an
    extension type's C slot); here, the value (attributes stay in the instance ``__dict__``)."""
    return value


def ccall(func: Any) -> Any:
    """``@cython.ccall`` (``cpdef``): a C call inside the module when compiled."""
    return func


def locals(**_types: object) -> Callable[[Any], Any]:
    """``@cython.locals(name=type, …)``: C types for a function's locals when compiled."""
    return lambda func: func

"""Compiled extensions; everything else about the package is in pyproject.toml.

Each entry of ``EXTENSIONS`` is one self-contained group: add others as separate entries.
"""

from __future__ import annotations

import logging

from setuptools import setup

log = logging.getLogger("setup")


def ledger_extensions() -> list:  # type: ignore[type-arg]
    """The ledger's posting hot path compiled by Cython (pure-Python mode: the ``.py`` files
    are the source and stay importable as plain Python). ``optional``: a machine that cannot
    compile them still installs, and the ledger runs the same code uncompiled
    (``ledger.decide.compiled()`` tells; ``tests/ledger/test_compiled.py`` checks both agree).
    """
    try:
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError:
        log.warning("Cython not available: the ledger hot path runs as plain Python")
        return []
    modules = ("decide", "chain", "recipes", "accounts", "bulk", "store")  # = ledger.decide
    return cythonize(
        [Extension(f"ledger.{name}", [f"ledger/{name}.py"], optional=True)
         for name in modules],
        compiler_directives={"language_level": 3, "annotation_typing": False},
        quiet=True)


def model_extensions() -> list:  # type: ignore[type-arg]
    """The scorer's tree kernel (``models/ensemble/native.py``); ``optional``: without a C compiler
    the install goes on and scoring uses XGBoost's own predictor."""
    from setuptools import Extension

    return [Extension("models.ensemble._forest", ["models/ensemble/_forest.c"],
                      extra_compile_args=["-O3"],
                      optional=True)]


EXTENSIONS = [
    *ledger_extensions(),
    *model_extensions(),
]

setup(ext_modules=EXTENSIONS)

"""Compiled extensions; everything else about the package is in pyproject.toml.

Each entry of ``EXTENSIONS`` is one self-contained group: add others as separate entries.
"""

from __future__ import annotations

from setuptools import Extension, setup


def model_extensions() -> list[Extension]:
    """The scorer's tree kernel (``models/ensemble/native.py``); ``optional``: without a C compiler
    the install goes on and scoring uses XGBoost's own predictor."""
    return [Extension("models.ensemble._forest", ["models/ensemble/_forest.c"],
                      extra_compile_args=["-O3"],
                      optional=True)]


EXTENSIONS = [
    *model_extensions(),
]

setup(ext_modules=EXTENSIONS)

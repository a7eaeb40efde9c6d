"""The C extensions; everything else about the package is in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[
    # the scorer's tree kernel (models/native.py); optional: without a C compiler the install
    # goes on and scoring uses XGBoost's own predictor
    Extension("models._forest", ["models/_forest.c"], extra_compile_args=["-O3"],
              optional=True),
])

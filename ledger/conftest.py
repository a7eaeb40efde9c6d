"""The doctests of the ledger's compiled modules (``ledger.decide.COMPILED_MODULES``) run in
``tests/ledger/test_compiled.py``, on the plain-Python source in a process of their own: pytest
imports a doctest module from its ``.py`` path, which would put the uncompiled module in
``sys.modules`` in place of the compiled one for every test after it."""

from ledger.decide import COMPILED_MODULES

collect_ignore = [f"{name}.py" for name in COMPILED_MODULES]

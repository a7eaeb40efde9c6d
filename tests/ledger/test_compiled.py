"""The ledger's hot path is compiled by Cython at install (``setup.py``) and falls back to the
same source as plain Python. Both must decide and store exactly the same thing: the same
events are posted in two fresh processes — one importing the compiled modules, one forced onto
the ``.py`` sources without Cython — and every stored row, hash and result must be equal."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ledger.decide import COMPILED_MODULES as COMPILED
from ledger.decide import stale_builds

_RUN = textwrap.dedent("""
    import importlib.abc, importlib.util, json, sys
    from pathlib import Path

    pure, db = sys.argv[1] == "pure", sys.argv[2]
    if pure:
        sys.modules["cython"] = None  # the shim, as on a machine without Cython
        src = Path(sys.argv[3])

        class PureSource(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.startswith("ledger.") and name[7:] in COMPILED:
                    return importlib.util.spec_from_file_location(
                        name, src / f"{name[7:]}.py")
                return None

        sys.meta_path.insert(0, PureSource())

    from datetime import UTC, datetime, timedelta
    from sqlalchemy import text
    import ledger.decide
    from ledger import Ledger
    from simulator import Simulator

    modules = {name: sys.modules[f"ledger.{name}"].__file__ for name in COMPILED}
    t0 = datetime(2026, 2, 1, tzinfo=UTC)
    events = [t.event for t in Simulator(seed=5, n_accounts=25, n_merchants=6).generate(
        1500, t0, t0 + timedelta(days=9))]
    from core.contract import TransactionEvent

    def ev(i, event_type, amount, **extra):
        return TransactionEvent.model_validate({
            "transaction_id": f"x{i}", "event_type": event_type, "amount_minor": amount,
            "occurred_at": t0 + timedelta(hours=i), "currency": "EUR", "account_id": "acct-x",
            "country": "DE", "channel": "web", **extra})

    extra = [ev(0, "top_up", 50_000), ev(1, "merchant_payment", 10**9, merchant_id="m"),
             ev(2, "card_void", 10, merchant_id="m", original_transaction_id="nope"),
             ev(3, "fx_conversion", 1000, target_currency="USD"),
             ev(4, "fx_conversion", 1000, target_currency="JPY"),
             ev(5, "fx_conversion", 1000, target_currency="GBP", target_amount_minor=853),
             ev(6, "card_authorization", 700, merchant_id="m"),
             ev(7, "top_up", 900, fee_minor=15)]
    events = extra + events
    led = Ledger.from_url(f"sqlite:///{db}")
    led.set_rate("EUR", "USD", "1.0832", t0 - timedelta(days=1))
    led.set_rate("GBP", "EUR", "1.17", t0 + timedelta(days=2))
    now = t0 + timedelta(days=10)
    results = []
    for n, start in enumerate(range(0, len(events), 173)):
        results += led.post_batch(events[start:start + 173], now=now + timedelta(seconds=n))
        if n % 3 == 1:  # redeliveries
            results += led.post_batch(events[max(0, start - 40):start + 5], now=now)
    results += led.expire_holds(now=t0 + timedelta(days=30))
    posted = [r.transaction_id for r in results if r.status == "posted"]
    for tid in posted[:5]:
        results.append(led.reverse(tid, "test", now=now))
    with led.engine.connect() as conn:
        tables = {t: [list(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2"))]
                  for t in ("ledger_journals", "ledger_entries", "ledger_balances",
                            "ledger_chain_head")}
    import doctest
    doctests = [doctest.testmod(sys.modules[f"ledger.{name}"]) for name in COMPILED]
    print(json.dumps({"compiled": ledger.decide.compiled(), "modules": modules,
                      "doctests": [[t.attempted, t.failed] for t in doctests],
                      "results": [list(r) for r in results], "tables": tables},
                     default=str))
""")


def _post(tmp_path: Path, mode: str) -> dict:  # type: ignore[type-arg]
    src = Path(__file__).resolve().parents[2] / "ledger"
    out = subprocess.run(
        [sys.executable, "-c", f"COMPILED = {COMPILED!r}\n{_RUN}", mode,
         str(tmp_path / f"{mode}.db"), str(src)],
        capture_output=True, text=True, timeout=300, cwd=src.parent, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.slow
def test_compiled_and_pure_paths_store_identical_ledgers(tmp_path):
    pure = _post(tmp_path, "pure")
    assert not pure["compiled"]
    # their doctests, which pytest does not collect (ledger/conftest.py), on the source
    assert sum(attempted for attempted, _ in pure["doctests"]) >= 8, pure["doctests"]
    assert [failed for _, failed in pure["doctests"]] == [0] * len(COMPILED), pure["doctests"]
    assert all(f.endswith(".py") for f in pure["modules"].values()), pure["modules"]
    compiled = _post(tmp_path, "compiled")
    if not compiled["compiled"]:
        pytest.skip("the ledger's Cython modules are not built here (pip install -e . builds "
                    "them); the plain-Python path ran above")
    # all or nothing: a half-built hot path would mix the two
    assert not any(f.endswith(".py") for f in compiled["modules"].values()), compiled["modules"]
    statuses = {r[1] for r in pure["results"]}
    assert {"posted", "rejected", "duplicate"} <= statuses, statuses
    kinds = {row[2] for row in pure["tables"]["ledger_journals"]}
    assert kinds == {"event", "expiry", "reversal"}, kinds
    assert len(pure["tables"]["ledger_journals"]) > 1000
    assert compiled["results"] == pure["results"]
    for table, rows in pure["tables"].items():
        assert compiled["tables"][table] == rows, table


def test_no_compiled_module_is_older_than_its_source():
    """An edited ``ledger/*.py`` does not run while an older build of it is imported first."""
    assert stale_builds() == [], "rebuild the ledger's compiled modules: make ext"

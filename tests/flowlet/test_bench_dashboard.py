"""``flowlet bench dashboard`` at a small size: every page query is timed and reported."""

import json

from dashboards.queries import HEALTH_QUERIES, PAGE_QUERIES
from flowlet.cli import main


def test_the_dashboard_bench_reports_every_query(tmp_path, capsys):
    assert main(["bench", "dashboard", "--rows", "20000", "--alerts", "0",
                 "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert json.loads(capsys.readouterr().out) == report
    for name in (*PAGE_QUERIES, *HEALTH_QUERIES, "open_lake", "page_total"):
        assert report[name]["max_ms"] >= report[name]["median_ms"] > 0, name
        assert name in report["before_compaction"]["queries"], name
    assert report["rows"] == 20_000 and report["runs"] == 7
    # The sink's tail was one file per batch and day; compaction left one file per day.
    days = list((tmp_path / "data" / "lake" / "transactions").glob("dt=*"))
    assert report["before_compaction"]["lake_files"] > report["lake_files"] == len(days)
    assert report["compaction"]["batches"] >= 20_000 // 500


def test_the_workbench_pages_are_timed_over_a_filled_case_store(tmp_path, capsys):
    from cases import CaseStore
    from core.settings import Settings

    assert main(["bench", "dashboard", "--rows", "20000", "--alerts", "3000", "--runs", "2",
                 "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())["workbench"]
    assert report["alerts"] == 3000
    store = CaseStore(Settings(data_dir=tmp_path / "data").database_url)
    assert len(store.alerts(limit=10_000)) == 3000  # one open alert per account and source
    for name in ("queue_default", "queue_filtered", "case_store", "case_recent_transactions",
                 "case_features_vs_usual", "case_network", "case_balances",
                 "ledger_trial_balance", "ledger_rejections", "decisions", "case_page_total",
                 "typical_case_recent_transactions", "typical_case_features_vs_usual",
                 "typical_case_network", "typical_case_page_total"):
        assert report["queries"][name]["max_ms"] >= report["queries"][name]["median_ms"] > 0

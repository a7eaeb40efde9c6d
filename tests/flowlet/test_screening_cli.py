"""``flowlet screening load|match|customer`` and ``flowlet simulate --profiles``."""

from __future__ import annotations

import json

import pytest

from core.contract import CustomerEvent
from core.settings import Settings
from flowlet.cli import main
from screening import SAMPLE_LIST
from simulator.kyc import LISTED_NAMES
from streams.testing import run_pipeline
from streams.topics import ensure_topics


def test_load_match_and_customer(tmp_path, capsys):
    data = ["--data-dir", str(tmp_path)]
    assert main([*data, "screening", "load", "sample"]) == 0
    assert json.loads(capsys.readouterr().out)["by_kind"] == {"pep": 3, "sanctions": 7}
    assert main([*data, "screening", "match", "Mohamed Karim Hadad"]) == 1  # a hit
    (hit,) = json.loads(capsys.readouterr().out)["matches"]
    assert (hit["entry_id"], hit["kind"]) == ("syn-s-0003", "sanctions")
    assert main([*data, "screening", "match", "Ivan Petrenko"]) == 0
    assert json.loads(capsys.readouterr().out)["matches"] == []

    bad = tmp_path / "bad.csv"
    bad.write_text(SAMPLE_LIST.read_text(encoding="utf-8") + "syn-x,Person,,,,,,,,,,,,,\n",
                   encoding="utf-8")
    assert main([*data, "screening", "load", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "nothing loaded" in err and "line 12: name: empty" in err
    assert main([*data, "screening", "match", "Kim Chol Su"]) == 1  # the sample still in use
    capsys.readouterr()

    assert main([*data, "screening", "customer", "acc-1"]) == 1  # no profile yet
    capsys.readouterr()
    run_pipeline([CustomerEvent(event_id="kyc-1", account_id="acc-1", version=1,
                                occurred_at="2026-11-02T09:00:00Z", customer_type="business",
                                name="Ana Lima Imports", country="PT", business="casino",
                                onboarded_on="2026-11-01")], tmp_path)
    assert main([*data, "screening", "customer", "acc-1"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["risk"]["reasons"] == ["business_high_risk:casino", "income_undeclared"]


@pytest.mark.integration
def test_simulate_publishes_a_profile_per_customer_first(broker, tmp_path, read_topic):
    settings = Settings(data_dir=tmp_path, broker=broker.bootstrap, partitions=2)
    ensure_topics(settings)
    assert main(["--data-dir", str(tmp_path), "--broker", broker.bootstrap, "simulate",
                 "--to", "kafka", "--profiles", "--accounts", "60", "--rate", "500",
                 "--count", "20"]) == 0
    records = read_topic(broker.bootstrap, settings.topic_transactions)
    profiles = [CustomerEvent.model_validate_json(r.value) for r in records
                if b'"event_type":"customer"' in r.value]
    assert len(profiles) == 60 and len(records) >= 80
    assert {p.account_id.encode() for p in profiles} == \
        {r.key for r in records if b'"event_type":"customer"' in r.value}
    assert any(p.name in LISTED_NAMES for p in profiles)

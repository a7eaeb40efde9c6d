"""The analyst's loop through real processes: simulated traffic → the worker's alerts,
de-duplicated in the workbench → a decision through the API → labels on the stream → the
lake's labels, the merchant's delayed-label feature and the next training set."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import httpx
import polars as pl
import pytest

from cases import CaseStore
from core.lake import connect
from models.training.lake_source import lake_training_set

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LEAD = ("lea", "correct horse battery")


def test_decisions_become_labels_the_features_see(aged_traffic, wait_until, api_key):
    s, events, api, worker, base = aged_traffic
    lake = lambda sql: connect(s.lake_dir).sql(sql).fetchall()  # noqa: E731

    # Every lake alert is a hit of exactly one open alert of its account.
    store = CaseStore(s.database_url)
    lake_alerts = Counter(a for (a,) in lake("select account_id from transactions "
                                             "where is_alert"))
    assert lake_alerts, "the model alerted nothing: nothing to decide"
    open_alerts = store.alerts(source="model", limit=10_000)  # not the typology detectors'
    assert {a["entity_id"]: a["hits"] for a in open_alerts} == dict(lake_alerts)

    store.add_user(*LEAD[:1], "lead", LEAD[1])
    with httpx.Client(base_url=base, timeout=30, auth=LEAD) as client:
        queue = client.get("/v1/alerts").json()
        case_id = next(a["case_id"] for a in queue if any(
            h["merchant_id"] for h in store.case(a["case_id"])["evidence"]))
        evidence = store.case(case_id)["evidence"]
        resp = client.post(f"/v1/cases/{case_id}/decision",
                           json={"decision": "confirmed_fraud", "note": "confirmed by phone"})
        assert resp.status_code == 200, resp.text
        label_ids = {lb["label_id"] for lb in resp.json()["labels"]}
        assert len(label_ids) == len({h["transaction_id"] for h in evidence})  # one each
        wait_until(lambda: {i for (i,) in lake("select label_id from labels")} >= label_ids,
                   60, "the decision's labels in the lake")
        merchant = next(h["merchant_id"] for h in evidence if h["merchant_id"])
        template = next(e for e in events if e.get("merchant_id") == merchant)
        probe = {**template, "transaction_id": "probe-after-decision",
                 "occurred_at": datetime.now(UTC).isoformat()}
        publish = {"X-API-Key": api_key(s, ("publish",))}  # the client logs in as the lead
        assert client.post("/v1/transactions", json=probe,
                           headers=publish).json()["status"] == "accepted"
    wait_until(lambda: lake("select count(*) from transactions where transaction_id = "
                            "'probe-after-decision'")[0][0] == 1, 60, "the probe's lake row")
    (rate,) = lake("select f_merchant_fraud_rate_30d_delay7d from transactions "
                   "where transaction_id = 'probe-after-decision'")[0]
    assert rate > 0, "the merchant's delayed-label feature did not see the decision"
    # ... and the next `flowlet train --from-lake` trains on them.
    training = lake_training_set(s.lake_dir)
    labelled = {h["transaction_id"] for h in evidence}  # the model and a typology may share one
    decided = training.labels.filter(pl.col("transaction_id").is_in(list(labelled)))
    assert decided.height == len(labelled) and decided["is_fraud"].all()
    assert training.live_labels.get("analyst") == len(labelled)
    assert set(decided["transaction_id"]) <= set(training.events["transaction_id"])
    assert worker.stop() == 0, worker.tail()
    assert api.stop() == 0, api.tail()

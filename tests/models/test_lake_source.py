"""``flowlet train --from-lake``: the simulated history plus what the stream processed and the
labels it applied (analysts' decisions) are one training set."""

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from core.contract import LabelEvent
from core.settings import Settings
from flowlet.train_console import run_train
from models.registry import registry_client
from models.training.lake_source import lake_training_set
from simulator import Simulator
from simulator.lake import write_history
from streams.testing import run_pipeline

from .conftest import END


def _live_lake(settings: Settings, n: int = 300, decided: int = 4) -> list[LabelEvent]:
    """``n`` live transactions after the history, ``decided`` of them decided as fraud."""
    events = [t.event for t in Simulator(seed=5, n_accounts=30, n_merchants=6).generate(
        n, END, END + timedelta(hours=6))]
    labels = [LabelEvent(label_id=f"lbl-decision-{i}", labelled_transaction_id=ev.transaction_id,
                         account_id=ev.account_id, merchant_id=ev.merchant_id,
                         transaction_occurred_at=ev.occurred_at,
                         occurred_at=END + timedelta(hours=7), is_fraud=True, source="analyst")
              for i, ev in enumerate(events[:decided])]
    run_pipeline([*events, *labels], settings.data_dir)
    return labels


def test_the_lake_training_set_holds_history_live_rows_and_analyst_labels(history, tmp_path):
    settings = Settings(data_dir=tmp_path)
    write_history(history, settings.lake_dir)
    decisions = _live_lake(settings)

    lake = lake_training_set(settings.lake_dir)
    assert lake.history_rows == history.events.height and lake.live_rows == 300
    assert lake.events.height == history.events.height + 300
    assert lake.live_labels == {"analyst": len(decisions)}
    decided = lake.labels.filter(
        pl.col("transaction_id").is_in([d.labelled_transaction_id for d in decisions]))
    assert decided.height == len(decisions) and decided["is_fraud"].all()
    assert set(decided["source"]) == {"analyst"}
    assert decided["labelled_at"].dtype.time_zone == "UTC"
    assert lake.labels.height == history.labels.height + len(decisions)
    assert "analyst=4" in lake.describe()


def test_a_lake_without_history_or_rows_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no history and no processed transaction"):
        lake_training_set(tmp_path / "lake")


@pytest.mark.slow  # one MLflow training run
def test_train_from_lake_trains_on_the_decisions(history, tmp_path):
    settings = Settings(data_dir=tmp_path, model_name="from-lake")
    write_history(history, settings.lake_dir)
    decisions = _live_lake(settings)
    result = run_train(settings, from_lake=True, promote="never", recent_days=0)
    path = registry_client(settings).download_artifacts(result.run_id, "lineage.json",
                                                        str(tmp_path))
    lineage = json.loads(Path(path).read_text())
    assert lineage["events"] == history.events.height + 300
    assert lineage["labels"] == history.labels.height + len(decisions)
    assert "live labels analyst=4" in lineage["source"]

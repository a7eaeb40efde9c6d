"""The champion gate: the alias moves only for a model that beats the champion on the same test."""

import pytest

from core.settings import Settings
from models.ensemble.supervised import XGBParams
from models.mlflow_env import MlflowClient
from models.training.data import backtest_labels
from models.training.fit import TrainConfig
from models.training.run import current_champion, train_ensemble

from .conftest import split_of

WEAK = TrainConfig(xgb=XGBParams(rounds=2, max_depth=1), iforest_trees=3)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return Settings(data_dir=tmp_path_factory.mktemp("gate"), model_name="gate-test")


def _tags(settings, run_id):
    return MlflowClient(settings.mlflow_tracking_uri).get_run(run_id).data


@pytest.mark.slow  # three MLflow runs and registrations: ~50 s on a shared 2-core machine
def test_gate_promotes_only_a_better_candidate(history, registry):
    split = split_of(history, TrainConfig())
    # evaluated on the eventual truth: the labels known by the history's end leave the test
    # window with a handful of (early) frauds, too few to tell a weak model from a strong one
    args = (history.events, backtest_labels(history.events, history.labels), registry)
    weak = train_ensemble(*args, config=WEAK, split=split, seed=1)
    assert weak.gate.promoted and weak.gate.alias == "champion"
    assert "first model" in weak.gate.reason and current_champion(registry) == weak.version

    strong = train_ensemble(*args, split=split, seed=1)
    g = strong.gate
    assert g.promoted and g.champion_version == weak.version
    # the champion was re-scored on the candidate's own test window
    assert g.champion_ap == pytest.approx(weak.metrics["test_average_precision"])
    assert g.candidate_ap == pytest.approx(strong.metrics["test_average_precision"])
    assert g.candidate_ap > g.champion_ap
    assert current_champion(registry) == strong.version
    data = _tags(registry, strong.run_id)
    assert data.tags["gate.decision"] == "promoted"
    assert data.metrics["gate_champion_ap"] == pytest.approx(g.champion_ap)

    worse = train_ensemble(*args, config=WEAK, split=split, seed=2)
    g = worse.gate
    assert not g.promoted and g.alias == "challenger"
    assert g.champion_version == strong.version and g.candidate_ap <= g.champion_ap
    assert current_champion(registry) == strong.version  # unchanged
    client = MlflowClient(registry.mlflow_tracking_uri)
    challenger = client.get_model_version_by_alias("gate-test", "challenger")
    assert str(challenger.version) == worse.version
    assert _tags(registry, worse.run_id).tags["gate.decision"] == "challenger"
    version = client.get_model_version("gate-test", worse.version)
    assert version.tags["gate.alias"] == "challenger"



def test_gate_margin_and_forced_modes(history, registry, monkeypatch):
    """``gate`` itself, with the champion's scores stubbed: margin, always and never."""
    import numpy as np

    from models import registry as reg

    y = np.array([0, 0, 1, 1, 0, 1], dtype=bool)
    cand = np.array([.1, .2, .9, .8, .3, .7])  # AP 1.0
    champ = np.array([.1, .95, .9, .8, .3, .7])  # AP < 1
    settings = registry.with_(model_name="gate-unit")
    monkeypatch.setattr(reg, "alias_version", lambda *_: "7")
    monkeypatch.setattr(reg, "version_scores", lambda *_: champ)
    aliases = []
    monkeypatch.setattr(reg, "_record", lambda *a: None)

    class Client:
        def set_registered_model_alias(self, name, alias, version):
            aliases.append((alias, version))

    monkeypatch.setattr(reg, "configure_mlflow", lambda _s: Client())
    d = reg.gate(settings, "8", None, y, cand)
    assert d.promoted and d.champion_ap < d.candidate_ap == 1.0 and aliases[-1] == ("champion", "8")
    d = reg.gate(settings, "9", None, y, cand, margin=0.5)
    assert not d.promoted and aliases[-1] == ("challenger", "9") and "margin 0.5" in d.reason
    d = reg.gate(settings, "10", None, y, champ, promote="always")
    assert d.promoted and d.reason.startswith("forced") and aliases[-1] == ("champion", "10")
    n = len(aliases)
    d = reg.gate(settings, "11", None, y, cand, promote="never")
    assert d.alias is None and not d.promoted and len(aliases) == n

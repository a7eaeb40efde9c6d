"""The champion gate: the alias moves only for a model that beats the champion on the same test."""

import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from models.ensemble.supervised import XGBParams
from models.mlflow_env import MlflowClient
from models.training.data import backtest_labels
from models.training.fit import TrainConfig
from models.training.gate import RecentRows
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



class Stub:
    """A ScoringModel whose score is its one feature (clipped to [0, 1])."""

    feature_names = ("f",)

    def __init__(self, alert_threshold=0.5):
        self.alert_threshold = alert_threshold

    def score_frame(self, X):  # noqa: N803
        s = np.clip(np.nan_to_num(X["f"].to_numpy()), 0, 1)
        return pd.DataFrame({"score": s, "score_supervised": s, "score_anomaly": s},
                            index=X.index)

    def contributions(self, X):  # noqa: N803
        return self.score_frame(X)[["score"]].to_numpy()


@pytest.fixture
def stubbed_gate(registry, monkeypatch):
    """``gate`` with the registry stubbed: champion v7 scores ``CHAMP``; the aliases set are
    recorded; ``loaded`` says which model each version loads as."""
    from models.training import gate as gate_module

    aliases, loaded = [], {}

    class Client:
        def set_registered_model_alias(self, name, alias, version):
            aliases.append((alias, version))

    monkeypatch.setattr(gate_module, "configure_mlflow", lambda _s: Client())
    monkeypatch.setattr(gate_module, "resolve_alias", lambda *_: "7")
    monkeypatch.setattr(gate_module, "load_version",
                        lambda _c, _n, version: loaded.get(version, Stub()))
    monkeypatch.setattr(gate_module, "_record", lambda *a: None)
    settings = registry.with_(model_name="gate-unit")
    return gate_module.gate, settings, aliases, loaded


Y = np.array([0, 0, 1, 1, 0, 1], dtype=bool)
CAND = np.array([.1, .2, .9, .8, .3, .7])  # AP 1.0
CHAMP = np.array([.1, .95, .9, .8, .3, .7])  # AP < 1
X = pd.DataFrame({"f": CHAMP})  # the champion stub scores exactly CHAMP


def test_gate_margin_and_forced_modes(stubbed_gate):
    gate, settings, aliases, _ = stubbed_gate
    d = gate(settings, "8", X, Y, CAND)
    assert d.promoted and d.champion_ap < d.candidate_ap == 1.0 and aliases[-1] == ("champion", "8")
    d = gate(settings, "9", X, Y, CAND, margin=0.5)
    assert not d.promoted and aliases[-1] == ("challenger", "9") and "margin 0.5" in d.reason
    d = gate(settings, "10", X, Y, CHAMP, promote="always")
    assert d.promoted and d.reason.startswith("forced") and aliases[-1] == ("champion", "10")
    n = len(aliases)
    d = gate(settings, "11", X, Y, CAND, promote="never")
    assert d.alias is None and not d.promoted and len(aliases) == n


@pytest.mark.parametrize("promote", ["gate", "always"])
def test_a_candidate_failing_the_contract_is_never_promoted(stubbed_gate, promote):
    gate, settings, aliases, loaded = stubbed_gate
    loaded["12"] = Stub(alert_threshold=2.0)
    d = gate(settings, "12", X, Y, CAND, promote=promote)  # the better AP, all the same
    assert not d.promoted and d.alias is None and aliases == []
    assert "fails the model contract" in d.reason and "alert_threshold 2.0" in d.reason


def test_unverifiable_evidence_never_replaces_the_champion(stubbed_gate):
    gate, settings, aliases, _ = stubbed_gate
    for y, scores in ((np.zeros(6, bool), CAND), (Y, np.r_[CAND[:5], np.nan])):
        d = gate(settings, "13", X, y, scores)
        assert not d.promoted and aliases[-1] == ("challenger", "13")
        assert "cannot verify" in d.reason and "champion v7 kept" in d.reason


class Upended(Stub):
    """Scores ``1 − f``: it ranks the rows the champion stub ranks right upside down."""

    alert_budget, validation_alert_rate = 0.1, 0.08

    def score_frame(self, X):  # noqa: N803
        return 1.0 - super().score_frame(X)


def test_recent_rows_refuse_what_the_test_window_would_promote(stubbed_gate):
    gate, settings, aliases, loaded = stubbed_gate
    loaded["14"] = Upended(alert_threshold=0.85)  # CAND: 1 of 6 test rows, within 2 × 10 %
    recent = RecentRows(pd.DataFrame({"f": CAND}), Y)  # ranked right by the champion only
    d = gate(settings, "14", X, Y, CAND, recent=recent)
    assert d.candidate_ap > d.champion_ap  # the test window alone would promote
    assert not d.promoted and aliases[-1] == ("challenger", "14")
    assert d.candidate_recent_ap < d.champion_recent_ap and "recent labelled rows" in d.reason
    d = gate(settings, "14", X, Y, CAND, recent=recent, promote="always")  # a judgement call
    assert d.promoted and d.reason.startswith("forced")
    # live rows it alerts on 3 times in 6 (50 % > 2 × 10 %): refused, even when forced
    live = RecentRows(pd.DataFrame({"f": [.01, .05, .1, .5, .6, .7]}))
    d = gate(settings, "14", X, Y, CAND, recent=live, promote="always")
    assert not d.promoted and aliases[-1] == ("challenger", "14")
    assert d.recent_alert_rate == 0.5 and d.alert_rate_limit == pytest.approx(0.2)
    assert "alerts 50.000% of the recent live rows, over 2 × its budget 10.000%" in d.reason
    assert "validation alert rate 8.000%" in d.reason


def test_the_first_model_is_champion_even_alerting_too_much_and_says_so(stubbed_gate,
                                                                       monkeypatch):
    from models.training import gate as gate_module

    gate, settings, aliases, loaded = stubbed_gate
    monkeypatch.setattr(gate_module, "resolve_alias", lambda *_: None)  # no champion
    loaded["1"] = Upended(alert_threshold=0.85)
    d = gate(settings, "1", X, Y, CAND, recent=RecentRows(pd.DataFrame({"f": [.01, .05, .5]})))
    assert d.promoted and aliases[-1] == ("champion", "1") and d.recent_alert_rate == 2 / 3
    assert "first model becomes champion, although candidate alerts 66.667%" in d.reason

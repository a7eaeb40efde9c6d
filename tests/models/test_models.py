import pickle
from datetime import UTC, datetime

import numpy as np

from features import build_features, feature_matrix
from models.serving.scorer import Scorer
from models.training.data import history_from_simulator
from models.training.run import current_champion, ensure_champion, train_simulated
from simulator import PATTERNS, Simulator

TRAIN_END = datetime(2026, 3, 1, tzinfo=UTC)  # seeds checked to have labelled fraud


def test_simulator_is_deterministic_and_labels_fraud_patterns():
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC)
    a = Simulator(seed=5, n_accounts=100).generate(3000, start, end)
    b = Simulator(seed=5, n_accounts=100).generate(3000, start, end)
    assert a == b
    patterns = {t.pattern for t in a if t.is_fraud}
    assert patterns <= set(PATTERNS) and len(patterns) >= 4
    assert 0.005 < np.mean([t.is_fraud for t in a]) < 0.2
    assert all(start <= t.event.occurred_at for t in a)


def test_bootstrap_champion_scores_unseen_history(model_registry):
    assert current_champion(model_registry) == "1"
    assert ensure_champion(model_registry) == "1"  # no retraining when a champion exists
    scorer = Scorer(model_registry)
    scorer.load()
    assert scorer.model_version == "flowlet-fraud/1"
    later = build_features(history_from_simulator(3, seed=99, customers=400).events)
    scores = scorer.score(feature_matrix(later).to_pandas()).score
    assert scores.shape == (later.height,) and scores.min() >= 0 and scores.max() <= 1
    fraud = later["is_fraud"].to_numpy()
    assert fraud.sum() >= 10
    # A real model, not a constant: fraud scores well above legitimate ones on unseen data.
    assert scores[fraud].mean() > 5 * scores[~fraud].mean()
    assert pickle.loads(pickle.dumps(scores)).tolist() == scores.tolist()


def test_scorer_picks_up_a_moved_alias_without_restart(tmp_path, model_registry):
    settings = model_registry.with_(model_name="reload-test", model_reload_seconds=0.0)
    # a fixed end: the simulator's daily rhythm makes labelled fraud in the fit window depend
    # on the hour a history ends (at ~25 % of hours none for these small histories)
    end = TRAIN_END
    train_simulated(settings, days=10, customers=250, seed=1, end=end, promote="always")
    scorer = Scorer(settings)
    scorer.load()
    assert scorer.model_version == "reload-test/1"
    assert scorer.maybe_reload() is False
    train_simulated(settings, days=10, customers=250, seed=2, end=end,
                    promote="always")  # moves the alias
    assert scorer.maybe_reload() is True
    assert scorer.model_version == "reload-test/2"

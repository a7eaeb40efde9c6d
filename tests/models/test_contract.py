"""The model contract (``models.contract``): ``check_scoring_model`` on every model that serves,
each clause shown to fail on a model that breaks it, and what every model of the comparison
(ensemble, members alone, rule baseline) honours besides: pickling, seeding, ``score``."""

import pickle
import threading

import numpy as np
import pandas as pd
import pytest

from features import FEATURE_NAMES
from models.contract import (
    SCORE_COLUMNS,
    ContractViolation,
    ScoringModel,
    check_scoring_model,
    clause_of,
    yield_checks,
)
from models.ensemble.anomaly import AnomalyModel
from models.ensemble.baseline import RuleBaseline
from models.training.fit import TrainConfig, fit_and_evaluate

MODELS = ["ensemble", "xgboost", "isolation_forest", "rule_baseline"]


def _model(fitted, name):
    m = fitted.model
    return {"ensemble": m, "xgboost": m.supervised, "isolation_forest": m.anomaly,
            "rule_baseline": RuleBaseline()}[name]


def _frame(fitted, n=300):
    X = fitted.prepared.X[fitted.prepared.masks["test"]][:n]
    return pd.DataFrame(X.astype(np.float64), columns=list(FEATURE_NAMES))


@pytest.fixture(scope="module")
def refitted(history, fitted):
    """The same training again (first fit, refit, threshold), same seed: the same model."""
    return fit_and_evaluate(history.events, history.labels, fitted.split, TrainConfig(),
                            seed=11).model


@pytest.mark.parametrize("name", ["ensemble", "rule_baseline"])
def test_every_servable_model_passes_the_contract_check(fitted, name):
    model = _model(fitted, name)
    assert isinstance(model, ScoringModel)
    check_scoring_model(model, _frame(fitted, 64))
    check_scoring_model(pickle.loads(pickle.dumps(model)))  # as MLflow ships it


@pytest.mark.parametrize("name", ["xgboost", "isolation_forest"])
def test_members_are_parts_not_scoring_models(fitted, name):
    """The members have no threshold or score frame of their own: they never serve alone."""
    model = _model(fitted, name)
    assert not isinstance(model, ScoringModel)
    with pytest.raises(ContractViolation, match="lacks alert_threshold, score_frame"):
        check_scoring_model(model)


class Bent(RuleBaseline):
    """The rule, bent one way or another to break a clause."""

    def __init__(self, how: str) -> None:
        super().__init__(alert_threshold=1.5 if how == "threshold" else 0.5)
        self.how = how
        if how == "duplicate_names":
            self.feature_names = ("acct_count_1h", "acct_count_1h", "acct_new_device")

    def score_frame(self, X):  # noqa: N803
        out = super().score_frame(X)
        if self.how == "no_anomaly_column":
            return out.drop(columns="score_anomaly")
        if self.how == "float32":
            return out.astype(np.float32)
        if self.how == "index_lost":
            return out.reset_index(drop=True)
        if self.how == "above_one":
            return out.assign(score=out["score"] + 1.0)
        if self.how == "member_out_of_range":
            return out.assign(score_anomaly=-1.0)
        if self.how == "noisy":
            return out.assign(score=np.random.default_rng().random(len(out)))
        if self.how == "no_empty_batch" and len(X) == 0:
            raise ValueError("zero-size array to reduction operation maximum")
        if self.how == "batch_relative" and len(X):
            return out.assign(score=out["score"] / out["score"].max())
        if self.how == "nan_propagates":
            return out.assign(score=np.where(X.isna().any(axis=1), np.nan, out["score"]))
        return out

    def contributions(self, X):  # noqa: N803
        c = super().contributions(X)
        if self.how == "contributions_shape":
            return c[:, :2]
        if self.how == "contributions_inf":
            return c + np.inf
        return c


@pytest.mark.parametrize(("how", "clause"), [
    ("threshold", "attributes"), ("duplicate_names", "attributes"),
    ("no_anomaly_column", "score_frame"), ("float32", "score_frame"),
    ("index_lost", "score_frame"), ("above_one", "score_frame"),
    ("member_out_of_range", "score_frame"), ("contributions_shape", "contributions"),
    ("contributions_inf", "contributions"), ("noisy", "deterministic"),
    ("no_empty_batch", "empty_batch"), ("batch_relative", "single_rows"),
    ("nan_propagates", "missing_features")])
def test_the_check_names_the_broken_clause(how, clause):
    with pytest.raises(ContractViolation) as raised:
        check_scoring_model(Bent(how))
    assert raised.value.clause == clause
    assert str(raised.value).startswith(f"{clause}: ")
    check_scoring_model(RuleBaseline())  # the unbent rule passes


def test_every_clause_is_a_check():
    assert [clause_of(c) for c in yield_checks()] == [
        "attributes", "score_frame", "contributions", "deterministic", "empty_batch",
        "single_rows", "missing_features"]


@pytest.mark.parametrize("name", MODELS)
def test_pickle_round_trip_gives_identical_scores(fitted, name):
    model = _model(fitted, name)
    X = _frame(fitted)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.score(X), model.score(X))


@pytest.mark.parametrize("name", MODELS)
def test_deterministic_under_a_seed(fitted, refitted, name):
    X = _frame(fitted)
    other = {"ensemble": refitted, "xgboost": refitted.supervised,
             "isolation_forest": refitted.anomaly, "rule_baseline": RuleBaseline()}[name]
    np.testing.assert_array_equal(other.score(X), _model(fitted, name).score(X))


@pytest.mark.parametrize("name", MODELS)
def test_scores_in_unit_interval_with_missing_features(fitted, name):
    model = _model(fitted, name)
    X = _frame(fitted)
    holes = X.copy()
    holes.iloc[::2, ::3] = np.nan  # NaN values
    all_missing = pd.DataFrame(np.nan, index=range(5), columns=list(FEATURE_NAMES))
    absent = X.drop(columns=list(model.feature_names[:2]))  # columns not there at all
    for frame in (X, holes, all_missing, absent):
        s = model.score(frame)
        assert s.shape == (len(frame),) and s.dtype == np.float64
        assert np.isfinite(s).all() and (s >= 0).all() and (s <= 1).all()
    assert not np.array_equal(model.score(holes), model.score(X))  # NaN is not ignored


@pytest.mark.parametrize("name", MODELS)
def test_batches_of_zero_and_one_row(fitted, name):
    model = _model(fitted, name)
    X = _frame(fitted, 40)
    assert model.score(X.iloc[:0]).shape == (0,)
    one = np.array([model.score(X.iloc[[i]])[0] for i in range(len(X))])
    np.testing.assert_allclose(one, model.score(X), rtol=1e-6, atol=1e-9)


def test_ensemble_frame_threshold_and_contributions(fitted):
    model = fitted.model
    X = _frame(fitted)
    out = model.score_frame(X)
    assert tuple(out.columns) == SCORE_COLUMNS and (out.dtypes == np.float64).all()
    assert list(out.index) == list(X.index)
    np.testing.assert_array_equal(out["score"].to_numpy(), model.score(X))
    np.testing.assert_array_equal(out["score_supervised"], model.supervised.score(X))
    assert 0 < model.alert_threshold < 1 and model.feature_names == FEATURE_NAMES
    assert model.score_frame(X.iloc[:0]).shape == (0, 3)
    c = model.contributions(X)
    assert c.shape == (len(X), len(FEATURE_NAMES)) and model.contributions(X.iloc[:0]).shape == (
        0, len(FEATURE_NAMES))
    # additive: the contributions explain the ensemble's log-odds up to one bias per model
    logit = np.log(out["score"] / (1 - out["score"]))
    bias = logit - c.sum(axis=1)
    np.testing.assert_allclose(bias, bias[0], atol=1e-3)
    # both members contribute: a feature only the forest reads still moves the risk
    assert np.abs(c).sum(axis=0).astype(bool).sum() > 10


def test_thread_shared_model_scores_consistently(fitted):
    model = pickle.loads(pickle.dumps(fitted.model))
    X = _frame(fitted)
    expected = model.score_frame(X)
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(model.score_frame(X))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 20
    for r in results:
        pd.testing.assert_frame_equal(r, expected)


def test_compiled_forest_equals_scikit_learn():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 6)).astype(np.float32)
    X[rng.random(X.shape) < 0.15] = np.nan
    names = [f"f{i}" for i in range(6)]
    model = AnomalyModel.fit(X, names, n_estimators=30, seed=4)
    np.testing.assert_allclose(model.score_matrix(X), -model.forest_.score_samples(X),
                               rtol=1e-5)
    contribs = model.contributions(X[:50])
    np.testing.assert_allclose(contribs.sum(axis=1) - model.exponent(X[:50]),
                               (contribs.sum(axis=1) - model.exponent(X[:50]))[0], atol=1e-4)

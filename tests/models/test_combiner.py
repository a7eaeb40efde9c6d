"""The stacked combiner: non-negative weights, and the unconstrained fit matches scikit-learn."""

import numpy as np
from sklearn.linear_model import LogisticRegression

from models.ensemble.model import Combiner


def _data(anomaly_sign: float, n: int = 4000, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.05
    margin = rng.normal(-3, 1, n) + 2.5 * y
    exponent = -0.5 + 0.05 * rng.normal(size=n) + anomaly_sign * 0.03 * y
    return margin, exponent, y


def test_anomaly_weight_is_never_negative():
    margin, exponent, y = _data(anomaly_sign=-1.0)  # labelled frauds look *less* anomalous
    signed = Combiner.fit(margin, exponent, y, non_negative=False)
    bounded = Combiner.fit(margin, exponent, y)
    assert signed.w_anomaly < 0
    assert bounded.w_anomaly == 0.0 and bounded.w_supervised > 0


def test_unconstrained_fit_matches_scikit_learn():
    margin, exponent, y = _data(anomaly_sign=1.0)
    c = Combiner.fit(margin, exponent, y, C=0.5, non_negative=False)
    Z = np.column_stack([margin, exponent])  # noqa: N806
    mu, sd = Z.mean(axis=0), Z.std(axis=0)
    lr = LogisticRegression(C=0.5, max_iter=1000).fit((Z - mu) / sd, y)
    np.testing.assert_allclose(c.logit(margin, exponent), lr.decision_function((Z - mu) / sd),
                               atol=1e-2)  # both L-BFGS, own tolerances
    bounded = Combiner.fit(margin, exponent, y, C=0.5)  # positive anyway: bounds inactive
    np.testing.assert_allclose([bounded.w_supervised, bounded.w_anomaly],
                               [c.w_supervised, c.w_anomaly], rtol=1e-9)

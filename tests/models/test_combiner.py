"""The stacked combiner: weights never negative, and the fit is scikit-learn's logistic
regression where the bounds are inactive."""

import numpy as np
from sklearn.linear_model import LogisticRegression

from models.ensemble.model import Combiner


def _data(anomaly_sign: float, n: int = 4000, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.05
    margin = rng.normal(-3, 1, n) + 2.5 * y
    exponent = -0.5 + 0.05 * rng.normal(size=n) + anomaly_sign * 0.03 * y
    return margin, exponent, y


def _unbounded(margin, exponent, y, C=1.0):  # noqa: N803
    """scikit-learn's fit on the standardised inputs, as raw-scale weights."""
    Z = np.column_stack([margin, exponent])  # noqa: N806
    mu, sd = Z.mean(axis=0), Z.std(axis=0)
    lr = LogisticRegression(C=C, max_iter=1000).fit((Z - mu) / sd, y)
    return lr.coef_[0] / sd, lr, (Z - mu) / sd


def test_anomaly_weight_is_never_negative():
    margin, exponent, y = _data(anomaly_sign=-1.0)  # labelled frauds look *less* anomalous
    w, _, _ = _unbounded(margin, exponent, y)
    assert w[1] < 0  # what an unbounded fit would do
    bounded = Combiner.fit(margin, exponent, y)
    assert bounded.w_anomaly == 0.0 and bounded.w_supervised > 0


def test_fit_matches_scikit_learn_when_the_bounds_are_inactive():
    margin, exponent, y = _data(anomaly_sign=1.0)
    c = Combiner.fit(margin, exponent, y, C=0.5)
    w, lr, Zs = _unbounded(margin, exponent, y, C=0.5)  # noqa: N806
    assert (w > 0).all()
    np.testing.assert_allclose(c.logit(margin, exponent), lr.decision_function(Zs),
                               atol=1e-2)  # both L-BFGS, own tolerances
    np.testing.assert_allclose([c.w_supervised, c.w_anomaly], w, rtol=1e-2)

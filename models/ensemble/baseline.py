"""A trivial rule, the floor every model must clear: unusual amount or a burst of activity.

``score = 1 − 1 / (1 + max(z, 0) / 3 + (count_1h − 1) / 5 + new_device)`` with ``z`` the
account's amount z-score, ``count_1h`` its transactions in the last hour and ``new_device`` 1
for a device the account has not used in 90 days (missing values count as 0). No fitting, in
[0, 1), monotone in each signal: what a rules analyst would write on day one.

It is a ``models.contract.ScoringModel`` too (it could serve): no members (``score_supervised``
and ``score_anomaly`` are NaN), and a feature's contribution is its term of the risk sum.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.contract import SCORE_COLUMNS
from models.ensemble.matrix import as_matrix

RULE_FEATURES = ("acct_amount_zscore", "acct_count_1h", "acct_new_device")


class RuleBaseline:
    feature_names = RULE_FEATURES

    def __init__(self, alert_threshold: float = 0.5) -> None:
        self.alert_threshold = alert_threshold

    @staticmethod
    def _terms(X: np.ndarray) -> np.ndarray:  # noqa: N803
        """The three signals' terms of the risk, shape (n, 3)."""
        x = np.nan_to_num(np.asarray(X, dtype=np.float64), nan=0.0)
        return np.column_stack([np.clip(x[:, 0], 0, 1e6) / 3.0,
                                np.clip(x[:, 1] - 1.0, 0, 1e6) / 5.0,
                                np.clip(x[:, 2], 0, 1)])

    def score_matrix(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        if len(X) == 0:
            return np.zeros(0)
        t = self._terms(X)
        return 1.0 - 1.0 / (1.0 + (t[:, 0] + t[:, 1] + t[:, 2]))

    def score(self, X: object) -> np.ndarray:  # noqa: N803
        return self.score_matrix(as_matrix(X, self.feature_names))  # type: ignore[arg-type]

    def score_frame(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        score = self.score(X)
        return pd.DataFrame({SCORE_COLUMNS[0]: score, SCORE_COLUMNS[1]: np.nan,
                             SCORE_COLUMNS[2]: np.nan}, index=X.index)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        m = as_matrix(X, self.feature_names)
        return self._terms(m) if len(m) else np.zeros((0, len(self.feature_names)))

"""A trivial rule, the floor every model must clear: unusual amount or a burst of activity.

``score = 1 − 1 / (1 + max(z, 0) / 3 + (count_1h − 1) / 5 + new_device)`` with ``z`` the
account's amount z-score, ``count_1h`` its transactions in the last hour and ``new_device`` 1
for a device the account has not used in 90 days (missing values count as 0). No fitting, in
[0, 1), monotone in each signal: what a rules analyst would write on day one.
"""

from __future__ import annotations

import numpy as np

from models.ensemble.matrix import as_matrix

RULE_FEATURES = ("acct_amount_zscore", "acct_count_1h", "acct_new_device")


class RuleBaseline:
    feature_names = RULE_FEATURES

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0)
        x = np.nan_to_num(np.asarray(X, dtype=np.float64), nan=0.0)
        z, count, new_device = x[:, 0], x[:, 1], x[:, 2]
        risk = (np.clip(z, 0, 1e6) / 3.0 + np.clip(count - 1.0, 0, 1e6) / 5.0
                + np.clip(new_device, 0, 1))
        return 1.0 - 1.0 / (1.0 + risk)

    def score(self, X: object) -> np.ndarray:
        return self.score_matrix(as_matrix(X, self.feature_names))  # type: ignore[arg-type]

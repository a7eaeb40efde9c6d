"""The model as MLflow ships it: one pyfunc that takes the declared features, returns scores.

Every model the scorer loads honours one contract (``models.ensemble.model.EnsembleModel``, the one
``flowlet train`` registers, is the reference implementation):

* ``predict(df)`` returns a pandas DataFrame with float64 columns ``score`` (P(suspicious) in
  [0, 1]), ``score_supervised`` and ``score_anomaly``;
* the unwrapped python model (``loaded.unwrap_python_model()``) has ``feature_names``
  (the input columns, in order), ``alert_threshold`` (the model's own cut-off: scores need not
  be calibrated around 0.5), ``score_frame(X)`` (the fast path, same columns as ``predict``)
  and ``contributions(X)``: an ``(n, len(feature_names))`` array, the signed contribution of
  each feature to the risk of each row.

Older models whose ``predict`` returns a bare array of scores still load: the scorer
(``models.serving.scorer``) adapts them (``score_supervised`` = ``score``, no anomaly score,
threshold 0.5, no reason codes).
"""

from __future__ import annotations

#: The columns of every model's score frame.
SCORE_COLUMNS = ("score", "score_supervised", "score_anomaly")

"""Training: data in, time splits under label delay, fitting, evaluation, MLflow runs, the gate.

``data`` (canonical events and labels), ``splits`` (time splits), ``fit`` (features → members →
combiner → evaluation, no MLflow), ``evaluation`` and ``plots`` (what a risk team reads),
``gate`` (the candidate's contract check, then champion vs candidate) and ``run`` (one tracked
MLflow run: fit, log, register, gate).
"""

"""Process defaults for OpenMP, set before ``xgboost``/``sklearn`` are first imported.

OpenMP (XGBoost's and scikit-learn's libgomp) reads ``OMP_WAIT_POLICY`` once, when the library
is loaded, so it must be in the environment before either is imported — ``models/__init__``
imports this module first. The default (ACTIVE) lets idle worker threads spin; on the shared,
loaded 2-core machine two spinning threads made 2-thread scoring and training slower than one
(XGBoost fit on 79k rows: 5.6 s on 1 thread, 10.5 s on 2; with PASSIVE 2.9 s and 3.1 s).
PASSIVE threads sleep while waiting. ``setdefault``: an explicit environment setting wins.
This sets a process default; it does not read configuration from the environment.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

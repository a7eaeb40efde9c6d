"""Both members' trees in one two-output XGBoost booster: one call scores (or explains) both.

Each ``inplace_predict`` / ``predict`` call has a fixed cost that does not depend on the rows —
on this machine ~0.3–0.4 ms of CPU, most of it XGBoost constructing a ``Context`` per call,
which reads the cgroup CPU-quota files (dmlc/xgboost#11271) — besides filling a row's feature
vector once per booster. Scoring a micro-batch of 500 rows through two boosters paid that
twice; the fused booster pays it once.

Layout: the supervised booster's model (``binary:logistic``) with ``num_target = 2``; its trees
write output 0, the compiled isolation trees (appended, ``tree_info = 1``) output 1. The base
score becomes ``[p, 0.5]``: output 0 starts from exactly the supervised member's base margin
and output 1 from ``logit(0.5) = 0``, the isolation booster's base — and each output adds the
same trees in the same order as its member, so both margins are **bit-identical** to the
members' own ``inplace_predict``.
"""

from __future__ import annotations

import json

import xgboost as xgb


def _model(booster: xgb.Booster) -> dict:
    return json.loads(booster.save_raw("json"))


def fuse(supervised: xgb.Booster, anomaly: xgb.Booster) -> xgb.Booster:
    """A booster whose margin is ``(n, 2)``: supervised log-odds, isolation path-length sum."""
    model = _model(supervised)
    learner = model["learner"]
    if learner["objective"]["name"] != "binary:logistic":
        raise ValueError("the supervised booster must be binary:logistic")
    params = learner["learner_model_param"]
    if params.get("num_target", "1") != "1" or params.get("num_class", "0") != "0":
        raise ValueError("the supervised booster must have a single output")
    iso = _model(anomaly)
    iso_base = iso["learner"]["learner_model_param"]["base_score"].strip("[]")
    if float(iso_base) != 0.0:
        raise ValueError("the isolation booster must have base_score 0")
    base = params["base_score"].strip("[]")
    params.update(num_target="2", base_score=f"[{base},5E-1]")

    gbm = learner["gradient_booster"]["model"]
    sup_trees = gbm["trees"]
    iso_trees = iso["learner"]["gradient_booster"]["model"]["trees"]
    trees = []
    for tree in [*sup_trees, *iso_trees]:
        tree = dict(tree)
        tree["id"] = len(trees)
        trees.append(tree)
    gbm["trees"] = trees
    gbm["tree_info"] = [0] * len(sup_trees) + [1] * len(iso_trees)
    # one "iteration" holding every tree: prediction always uses the whole model
    gbm["iteration_indptr"] = [0, len(trees)]
    gbm["gbtree_model_param"]["num_trees"] = str(len(trees))
    fused = xgb.Booster()
    fused.load_model(bytearray(json.dumps(model).encode()))
    fused.set_param({"nthread": 1})
    return fused

"""The model card: a member is kept only when it adds AP; constant features are reported."""

import numpy as np
import pytest

from features import FEATURE_NAMES
from models.training.card import ANOMALY, SUPERVISED, constant_features


def test_the_fitted_ensemble_says_which_members_it_kept_and_means_it(fitted):
    card, model = fitted.card, fitted.model
    assert card.members is model.member_selection
    assert card.members.kept[0] == SUPERVISED
    assert card.members.reason and card.members.reason in card.markdown()
    test = fitted.comparison
    if ANOMALY in card.members.kept:
        assert model.combiner.w_anomaly > 0
        assert card.members.ap_with_all > card.members.ap_supervised
    else:  # the ensemble is XGBoost alone: same ranking, same AP
        assert model.combiner.w_anomaly == 0.0
        assert test["ensemble"]["average_precision"] == pytest.approx(
            test["xgboost"]["average_precision"], abs=1e-9)
    assert card.tags()["model_card.members_kept"] == ",".join(card.members.kept)


def test_constant_features_are_found_on_the_rows_the_served_members_saw(fitted):
    assert fitted.card.refit  # the default: the whole training window
    X = fitted.prepared.X[fitted.prepared.masks["train"]].copy()  # noqa: N806
    assert set(fitted.card.constant_features) == set(constant_features(X, FEATURE_NAMES))
    X[:, 0] = 7.0
    assert FEATURE_NAMES[0] in constant_features(X, FEATURE_NAMES)
    X[:, 0] = np.arange(len(X))
    assert FEATURE_NAMES[0] not in constant_features(X, FEATURE_NAMES)

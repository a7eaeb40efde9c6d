"""Features declared once, computed online (stream) and offline (training) from one declaration."""

from core.frames import events_frame
from features.definitions import (
    EVENT_FEATURES,
    FEATURE_NAMES,
    FEATURES,
    registry,
    with_event_features,
)
from features.offline import build_features, feature_matrix
from features.online import OnlineFeatures

__all__ = [
    "EVENT_FEATURES",
    "FEATURES",
    "FEATURE_NAMES",
    "OnlineFeatures",
    "build_features",
    "events_frame",
    "feature_matrix",
    "registry",
    "with_event_features",
]

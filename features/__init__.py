"""Features declared once, computed online (stream) and offline (training) from one declaration."""

from features.definitions import EVENT_FEATURES, FEATURE_NAMES, WINDOW_FEATURES, registry
from features.frames import events_frame
from features.offline import build_features, feature_matrix
from features.online import InMemoryWindowStore, WindowFeatureComputer, with_event_features

__all__ = [
    "EVENT_FEATURES",
    "FEATURE_NAMES",
    "WINDOW_FEATURES",
    "InMemoryWindowStore",
    "WindowFeatureComputer",
    "build_features",
    "events_frame",
    "feature_matrix",
    "registry",
    "with_event_features",
]

"""AML typology detectors in the stream: structuring, fan-in/fan-out, pass-through, cycles,
dormant-account reactivation and high-risk corridors, scored Tazama-style (weighted indicators
per account and typology). See README.md."""

from detectors.config import DetectorConfig
from detectors.engine import DETECTORS, TYPOLOGIES, TypologyDetectors, typology_detectors
from detectors.scoring import Finding, Indicator

__all__ = ["DETECTORS", "TYPOLOGIES", "DetectorConfig", "Finding", "Indicator",
           "TypologyDetectors", "typology_detectors"]

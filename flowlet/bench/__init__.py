"""``flowlet bench``: throughput and quality figures, measured, reported, never asserted."""

"""Daily and weekly rhythms: when, in local time, people transact.

Times are integer microseconds since the epoch (UTC) throughout the simulator. Intensity is
relative: its mean over a week is 1, so ``expected_days`` is "how many average days of activity"
a window holds for someone living at a given UTC offset.

>>> float(HOURLY[3]) < 0.1 < 1 < float(HOURLY[18])
True
>>> import numpy as np
>>> day = 86_400 * US
>>> start = 1_767_225_600 * US  # 2026-01-01T00:00:00Z, a Thursday
>>> round(float(expected_days(start, start + 7 * day, np.array([1.0]))[0]), 6)
7.0
>>> times = sample_times(np.random.default_rng(0), np.zeros(10_000), start, start + 7 * day)
>>> hours = (times // (3600 * US)) % 24
>>> int((hours < 5).sum()) < int(((hours >= 17) & (hours < 19)).sum())
True
"""

from __future__ import annotations

import numpy as np

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US

_HOURLY_RAW = np.array([
    0.15, 0.08, 0.05, 0.04, 0.05, 0.12, 0.35, 0.70, 1.00, 1.15, 1.25, 1.40,
    1.60, 1.45, 1.30, 1.30, 1.40, 1.60, 1.70, 1.60, 1.40, 1.10, 0.70, 0.35])
#: Relative intensity per local hour of the day (mean 1).
HOURLY = _HOURLY_RAW / _HOURLY_RAW.mean()
_WEEKDAY_RAW = np.array([0.95, 0.95, 0.97, 1.00, 1.12, 1.10, 0.91])  # Monday first
#: Relative intensity per local day of the week (mean 1).
WEEKDAY = _WEEKDAY_RAW / _WEEKDAY_RAW.mean()


def _hour_bins(start_us: int, end_us: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hour-aligned bins covering [start, end): bin start (hour-aligned), lower and upper edge."""
    first = start_us // HOUR_US * HOUR_US
    bins = np.arange(first, max(end_us, first + 1), HOUR_US, dtype=np.int64)
    return bins, np.maximum(bins, start_us), np.minimum(bins + HOUR_US, end_us)


def intensity(bin_start_us: np.ndarray, utc_offset_hours: float) -> np.ndarray:
    """Relative intensity of the hour starting at each UTC time, for one UTC offset."""
    local_hours = bin_start_us // HOUR_US + int(round(utc_offset_hours))
    hour = local_hours % 24
    weekday = (local_hours // 24 + 3) % 7  # 1970-01-01 was a Thursday (index 3)
    return HOURLY[hour] * WEEKDAY[weekday]


def expected_days(start_us: int, end_us: int, utc_offsets: np.ndarray) -> np.ndarray:
    """Per entry of ``utc_offsets``: the window's intensity-weighted length in days."""
    bins, lo, hi = _hour_bins(start_us, end_us)
    span = np.maximum(hi - lo, 0) / DAY_US
    out = np.empty(len(utc_offsets))
    for offset in np.unique(utc_offsets):
        out[utc_offsets == offset] = float((intensity(bins, float(offset)) * span).sum())
    return out


def sample_times(rng: np.random.Generator, utc_offsets: np.ndarray, start_us: int,
                 end_us: int) -> np.ndarray:
    """One time in [start, end) per row, following the rhythm of each row's UTC offset."""
    bins, lo, hi = _hour_bins(start_us, end_us)
    span = np.maximum(hi - lo, 0)
    out = np.empty(len(utc_offsets), dtype=np.int64)
    for offset in np.unique(utc_offsets):
        rows = np.flatnonzero(utc_offsets == offset)
        weight = intensity(bins, float(offset)) * span
        pick = rng.choice(len(bins), len(rows), p=weight / weight.sum())
        out[rows] = lo[pick] + (rng.random(len(rows)) * span[pick]).astype(np.int64)
    return out


def local_hour(times_us: np.ndarray, utc_offsets: np.ndarray) -> np.ndarray:
    return (times_us // HOUR_US + np.rint(utc_offsets).astype(np.int64)) % 24


def next_local_hour(times_us: np.ndarray, utc_offsets: np.ndarray, hour: np.ndarray
                    ) -> np.ndarray:
    """The first time at or after each time whose local hour is ``hour`` (minute 0)."""
    current = local_hour(times_us, utc_offsets)
    wait_hours = (hour - current) % 24
    return (times_us // HOUR_US + wait_hours) * HOUR_US

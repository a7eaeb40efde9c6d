"""Scores micro-batches with the registry's champion, and hot-reloads it when the alias moves.

The scorer resolves ``models:/<name>@<alias>`` to a version and loads *that version* once
(``models.registry``). A background poller (every ``Settings.model_reload_seconds``)
re-resolves the alias; when it has moved, the new version is loaded and validated entirely off
the hot path (``models.serving.loading``: a model that is not a ``ScoringModel`` or fails
``check_scoring_model`` never serves), and only then swapped in as one immutable
:class:`LoadedModel` (with the shadow model, if any) by a single reference assignment.
:meth:`Scorer.score` reads that reference once per micro-batch, so a batch is scored entirely by
one complete model version. A version that fails to load or validate is logged and counted, and
the old model keeps scoring.

With ``Settings.shadow_enabled`` the ``shadow_alias`` (``challenger``) version scores every
batch too; its scores are returned for the lake and never decide alerts.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from core.settings import Settings
from models.contract import model_input
from models.drift import FeatureReference, read_reference
from models.mlflow_env import MlflowClient
from models.registry import registry_client, resolve_alias
from models.serving import loading
from models.serving.batch import ScoredBatch, reasons_for
from models.serving.live_drift import LiveFeatureDrift
from models.serving.loading import LoadedModel

log = logging.getLogger(__name__)

#: A version that failed to load or validate is tried again only after this long.
RETRY_FAILED_SECONDS = 60.0


@dataclass(frozen=True, eq=False)
class _Models:
    """What scores a batch: read once per batch, swapped as one reference."""

    champion: LoadedModel
    shadow: LoadedModel | None = None


class Scorer:
    """``models:/<name>@<alias>`` scoring with background hot reload.

    ``load()`` once (or ``start()``, which also starts the poller), then ``score(features)``
    per micro-batch. ``refresh()`` is one poll, for callers without the thread.
    """

    def __init__(self, settings: Settings, client: MlflowClient | None = None) -> None:
        self.settings = settings
        self._client = client or registry_client(settings)
        self._models: _Models | None = None
        self._lock = threading.Lock()  # one load at a time; the hot path never takes it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: dict[tuple[str, str], float] = {}  # (alias, version) -> monotonic time
        self._probe: pd.DataFrame | None = None
        self._last_check = 0.0
        self._counters = {"alias_checks": 0, "reloads": 0, "reload_failures": 0,
                          "shadow_reloads": 0, "shadow_errors": 0, "reason_code_errors": 0,
                          "batches": 0, "rows": 0}
        self._last_error: str | None = None
        self._last_check_at: datetime | None = None
        #: a sample of the features scored, against the champion's training reference
        self._drift = LiveFeatureDrift()

    # -- what is loaded ------------------------------------------------------------------
    @property
    def current(self) -> LoadedModel:
        models = self._models
        if models is None:
            raise RuntimeError("no model loaded yet: call load() or start()")
        return models.champion

    @property
    def shadow(self) -> LoadedModel | None:
        models = self._models
        return None if models is None else models.shadow

    @property
    def version(self) -> str | None:
        models = self._models
        return None if models is None else models.champion.version

    @property
    def model_version(self) -> str:
        """``name/version`` of the champion now scoring."""
        return f"{self.settings.model_name}/{self.version}"

    def stats(self) -> dict[str, Any]:
        models = self._models
        champion = models.champion if models else None
        shadow = models.shadow if models else None
        return {
            "model": champion.ref if champion else None,
            "model_alias": self.settings.model_alias,
            "alert_threshold": champion.alert_threshold if champion else None,
            # the policy the live alert rate is held to (None: the model records none)
            "alert_budget": champion.alert_budget if champion else None,
            "validation_alert_rate": champion.validation_alert_rate if champion else None,
            "model_loaded_at": champion.loaded_at.isoformat() if champion else None,
            "model_load_seconds": round(champion.load_seconds, 3) if champion else None,
            "shadow_model": shadow.ref if shadow else None,
            **self._counters,
            "last_error": self._last_error,
            "last_check_at": self._last_check_at.isoformat() if self._last_check_at else None,
            "feature_drift": self._drift.summary(),
        }

    # -- loading -------------------------------------------------------------------------
    def load(self) -> None:
        """Load the alias's version now (startup); raise if there is no usable champion."""
        self._failed.clear()
        self.refresh()
        if self._models is None:
            raise RuntimeError(f"cannot load {self.settings.model_uri}: {self._last_error}")

    def start(self) -> None:
        """Load if needed, then poll the alias in a daemon thread until :meth:`close`."""
        if self._models is None:
            self.load()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll, name="flowlet-model-poller",
                                            daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _poll(self) -> None:
        while not self._stop.wait(self.settings.model_reload_seconds):
            try:
                self.refresh()
            except Exception:  # never let the poller die
                log.exception("model poll failed")

    def maybe_reload(self) -> bool:
        """:meth:`refresh` if ``model_reload_seconds`` passed since the last check."""
        if time.monotonic() - self._last_check < self.settings.model_reload_seconds:
            return False
        return self.refresh()

    def refresh(self) -> bool:
        """Check the aliases; load, validate and swap in what moved. True if anything changed."""
        with self._lock:
            self._last_check = time.monotonic()
            self._last_check_at = datetime.now(UTC)
            self._counters["alias_checks"] += 1
            old = self._models
            champion = old.champion if old else None
            shadow = old.shadow if old else None

            alias = self.settings.model_alias
            try:
                wanted = self._resolve(alias)
                if wanted is None and champion is None:
                    self._last_error = f"{self.settings.model_uri} does not exist"
            except Exception as exc:
                self._fail(f"{alias} lookup", exc)
                wanted = None
            if wanted is not None and (champion is None or champion.version != wanted):
                if shadow is not None and shadow.version == wanted:
                    new = replace(shadow, alias=alias)  # a promoted challenger: loaded already
                else:
                    new = self._try_load(alias, wanted)
                if new is not None:
                    if champion is not None:
                        self._counters["reloads"] += 1
                    log.info("scoring with %s (was %s; loaded in %.2fs)", new.ref,
                             champion.ref if champion else "nothing", new.load_seconds)
                    champion = new
                    self._drift.use(new.ref, self._feature_reference(new.version))

            if self.settings.shadow_enabled:
                shadow = self._refresh_shadow(shadow, champion)
            if champion is None:
                return False
            if old is None or champion is not old.champion or shadow is not old.shadow:
                self._models = _Models(champion, shadow)  # the swap: one reference
                return True
            return False

    def _refresh_shadow(self, shadow: LoadedModel | None,
                        champion: LoadedModel | None) -> LoadedModel | None:
        alias = self.settings.shadow_alias
        try:
            wanted = self._resolve(alias)
        except Exception as exc:
            self._fail(f"{alias} lookup", exc)
            return shadow
        if wanted is None or (champion is not None and wanted == champion.version):
            if shadow is not None:
                log.info("shadow scoring stops (%s now %s)", alias, wanted or "unset")
            return None
        if shadow is not None and shadow.version == wanted:
            return shadow
        new = self._try_load(alias, wanted)
        if new is None:
            return shadow
        self._counters["shadow_reloads"] += 1
        log.info("shadow scoring with %s", new.ref)
        return new

    def _feature_reference(self, version: str) -> FeatureReference | None:
        """The version's training feature reference (``models.drift``), None without one."""
        try:
            run_id = self._client.get_model_version(self.settings.model_name, version).run_id
        except Exception as exc:  # noqa: BLE001 - drift is a report: never fail a load for it
            log.info("no feature reference for %s/%s: %s", self.settings.model_name, version,
                     exc)
            return None
        return read_reference(self._client, run_id) if run_id else None

    def _resolve(self, alias: str) -> str | None:
        return resolve_alias(self._client, self.settings.model_name, alias)

    def _try_load(self, alias: str, version: str) -> LoadedModel | None:
        failed_at = self._failed.get((alias, version))
        if failed_at is not None and time.monotonic() - failed_at < RETRY_FAILED_SECONDS:
            return None
        try:
            model = self._load_version(alias, version)
            self.validate(model)
        except Exception as exc:
            self._failed[(alias, version)] = time.monotonic()
            self._fail(f"loading {self.settings.model_name}/{version} ({alias})", exc)
            return None
        self._failed.pop((alias, version), None)
        return model

    def _load_version(self, alias: str, version: str) -> LoadedModel:
        return loading.load(self._client, self.settings, alias, version)

    def _fail(self, what: str, exc: Exception) -> None:
        self._counters["reload_failures"] += 1
        self._last_error = f"{what}: {type(exc).__name__}: {exc}"[:500]
        kept = self._models.champion.ref if self._models else "no model"
        log.error("%s failed (%s: %s); keeping %s", what, type(exc).__name__, exc, kept,
                  exc_info=exc)

    def validate(self, model: LoadedModel) -> None:
        """Raise unless ``model`` may score traffic (``models.serving.loading.validate``, on
        synthetic rows and a few of the last batch's)."""
        loading.validate(model, self._probe)

    # -- the hot path --------------------------------------------------------------------
    def score(self, features: pd.DataFrame) -> ScoredBatch:
        """Score one micro-batch (columns ``FEATURE_NAMES``) with one model version."""
        models = self._models  # read once: the whole batch sees one champion and one shadow
        if models is None:
            self.load()
            models = self._models
            assert models is not None
        champion = models.champion
        n = len(features)
        if n == 0:
            empty = np.zeros(0)
            return ScoredBatch(champion.name, champion.version, champion.alert_threshold,
                               empty, empty, empty, [], None if models.shadow is None
                               else empty, None if models.shadow is None
                               else models.shadow.version)
        x = model_input(features, champion.feature_names)
        frame = champion.model.score_frame(x)
        # validated on probe rows, not on every row: a score out of [0, 1] must not escape
        score = np.clip(frame["score"].to_numpy(), 0.0, 1.0)
        reasons = self._reasons(champion, x, score)
        shadow_score, shadow_version = self._shadow_scores(models.shadow, features)
        self._counters["batches"] += 1
        self._counters["rows"] += n
        self._remember_probe(features)
        self._drift.add(x, champion.feature_names)
        return ScoredBatch(
            model_name=champion.name, model_version=champion.version,
            alert_threshold=champion.alert_threshold, score=score,
            score_supervised=frame["score_supervised"].to_numpy(),
            score_anomaly=frame["score_anomaly"].to_numpy(),
            reason_codes=reasons, shadow_score=shadow_score,
            shadow_model_version=shadow_version,
        )

    def _remember_probe(self, features: pd.DataFrame) -> None:
        """Keep the last batch: the next model is validated on a few of its rows too."""
        self._probe = features  # sliced off the hot path, in validate()

    def _reasons(self, model: LoadedModel, x: pd.DataFrame,
                 score: np.ndarray) -> list[list[str] | None]:
        top_k = self.settings.reason_codes_top_k
        if top_k <= 0:
            return [None] * len(score)
        min_score = self.settings.reason_codes_min_score
        if min_score < 0:
            min_score = model.alert_threshold
        contributions = model.model.contributions
        try:
            return reasons_for(score, min_score, lambda mask: contributions(x[mask]),
                               model.feature_names, top_k)
        except Exception:  # an explanation failing must not fail the batch
            self._counters["reason_code_errors"] += 1
            log.exception("reason codes failed for %s", model.ref)
            return [None] * len(score)

    def _shadow_scores(self, shadow: LoadedModel | None,
                       features: pd.DataFrame) -> tuple[np.ndarray | None, str | None]:
        if shadow is None:
            return None, None
        try:
            frame = shadow.model.score_frame(model_input(features, shadow.feature_names))
            return np.clip(frame["score"].to_numpy(), 0.0, 1.0), shadow.version
        except Exception:  # the shadow never affects the champion's scores
            self._counters["shadow_errors"] += 1
            if self._counters["shadow_errors"] in (1, 10, 100, 1000):
                log.exception("shadow scoring with %s failed", shadow.ref)
            return None, None

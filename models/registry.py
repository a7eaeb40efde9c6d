"""The MLflow registry, the one place that resolves aliases and loads versions.

:func:`configure_mlflow` sets up the tracking store and the experiment (training);
:func:`registry_client` only points MLflow at the store (serving); :func:`resolve_alias` turns
``name@alias`` into a version; :func:`load_version` loads that version — by version, never by
alias, since an alias may move between the lookup and the load — and refuses anything that is
not a :class:`models.contract.ScoringModel`. The gate (``models.training.gate``) and the scorer
(``models.serving``) both go through here.
"""

from __future__ import annotations

import logging

from core.settings import Settings
from models.contract import ContractViolation, ScoringModel, as_scoring_model
from models.mlflow_env import MlflowClient, mlflow

log = logging.getLogger(__name__)

EXPERIMENT = "flowlet-fraud"


def registry_client(settings: Settings) -> MlflowClient:
    """A client of ``settings``' tracking store and model registry."""
    # Global URIs only matter for a remote store's artifact URIs; a local store's download URI
    # is a plain path, so clients of different stores in one process do not interfere.
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    return MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)


def configure_mlflow(settings: Settings) -> MlflowClient:
    """:func:`registry_client`, with the data folder and the experiment runs are logged to."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    client = registry_client(settings)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        local = not settings.mlflow_tracking_uri.startswith(("http://", "https://"))
        # A local store keeps artifacts in the data folder; a tracking server decides itself.
        mlflow.create_experiment(
            EXPERIMENT,
            artifact_location=settings.mlflow_artifacts_dir.as_uri() if local else None,
        )
    mlflow.set_experiment(EXPERIMENT)
    return client


def resolve_alias(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version ``name@alias`` points at; None when the alias or the model does not exist.

    Any other failure (the store unreachable, …) raises: "no champion" must not be mistaken
    for "cannot tell".
    """
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def load_version(client: MlflowClient, name: str, version: str) -> ScoringModel:
    """Registered model ``name`` version ``version``, as the :class:`ScoringModel` inside its
    pyfunc. Raises :class:`ContractViolation` for a model that is not one; it is not checked
    further here (:func:`models.contract.check_scoring_model` does that)."""
    uri = client.get_model_version_download_uri(name, version)
    pyfunc = mlflow.pyfunc.load_model(uri)
    try:
        model = pyfunc.unwrap_python_model()
    except Exception as exc:  # a flavor's own pyfunc, not a python-function model
        raise ContractViolation("ScoringModel", f"{name}/{version} is not a python-function "
                                                f"model ({exc})") from exc
    return as_scoring_model(model)

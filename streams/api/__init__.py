"""The thin ingestion API in front of the transactions topic."""

from streams.api.app import create_api, run_api

__all__ = ["create_api", "run_api"]

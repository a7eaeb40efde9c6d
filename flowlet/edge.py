"""The edge where settings are read: the environment, then the command's global options."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.settings import Settings


def settings_of(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if getattr(args, "data_dir", None):
        settings = settings.with_(data_dir=Path(args.data_dir))
    if getattr(args, "broker", None):
        settings = settings.with_(broker=args.broker)
    return settings

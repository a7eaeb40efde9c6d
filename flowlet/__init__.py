"""Flowlet core: event contract, settings and the command line."""

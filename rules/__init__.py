"""Rules as data (see README.md)."""

"""Sanctions and PEP screening: lists in OpenSanctions' simple CSV format loaded into the
database (``flowlet screening load``), fuzzy name matching with normalisation and
transliteration, and the stream's alert source for customers and payment counterparties.
A ``not_fraud`` decision on a screening alert whitelists the (subject, list entry) pair."""

from screening.lists import ListEntry, ListFileError, read_list
from screening.matcher import Match, Matcher
from screening.names import normalise
from screening.source import ScreeningSource
from screening.store import SAMPLE_LIST, ListStore, LoadReport

__all__ = ["SAMPLE_LIST", "ListEntry", "ListFileError", "ListStore", "LoadReport", "Match",
           "Matcher", "ScreeningSource", "normalise", "read_list"]

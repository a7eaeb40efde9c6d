"""Customers: the latest KYC profile of every account (from ``customer`` events) and its risk
rating (low/medium/high, a 0–100 score and the reasons), used by alert priority and the case
page. Independent of the stream: notebooks and the dashboards use it without Kafka."""

from customers.risk import Profile, Rating, rate
from customers.store import CustomerBook

__all__ = ["CustomerBook", "Profile", "Rating", "rate"]

"""The transactional outbox between the ingestion API and the broker (see ``store``, ``relay``)."""

from streams.outbox.relay import Relay
from streams.outbox.store import Outbox

__all__ = ["Outbox", "Relay"]

"""API keys: the store (hashed, scoped, audited) and the per-key rate limit."""

from streams.keys.gate import KeyGate, Refusal, token_from
from streams.keys.ratelimit import TokenBucket, retry_after
from streams.keys.store import SCOPES, ApiKey, KeyRequestError, KeyStore, parse_scopes

__all__ = ["SCOPES", "ApiKey", "KeyGate", "KeyRequestError", "KeyStore", "Refusal", "TokenBucket",
           "parse_scopes", "retry_after", "token_from"]

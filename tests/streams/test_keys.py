"""The key store on SQLite and PostgreSQL: only digests stored, scopes, revocation, the audit
chain (and that it notices tampering); the token bucket's refill."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from streams.keys import KeyRequestError, KeyStore, TokenBucket
from streams.keys.store import api_keys, key_audit


def test_keys_are_stored_hashed_scoped_revocable_and_audited(db_url):
    store = KeyStore(db_url)
    key, token = store.create("psp", ["publish,read"], actor="ops", rate_per_second=5, burst=9)
    other, other_token = store.create("ops", ["admin"], actor="ops")
    assert store.verify(token) == key and key.scopes == ("publish", "read")
    assert other.allows("label") and not key.allows("label")
    with store.engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(api_keys.select())]
    assert token not in str(stored) and token.split("_")[2] not in str(stored)
    assert store.verify(token.replace(key.key_id, other.key_id)) is None  # id ≠ secret
    store.revoke(key.key_id, actor="ops")
    assert store.verify(token) is None and store.verify(other_token) == other
    assert [k.key_id for k in store.keys(include_revoked=False)] == [other.key_id]
    assert [(e["action"], e["object_id"]) for e in store.audit()] == [
        ("create", key.key_id), ("create", other.key_id), ("revoke", key.key_id)]
    assert store.verify_audit() == (3, None)
    with store.engine.begin() as conn:  # someone edits the trail
        conn.execute(update(key_audit).where(key_audit.c.seq == 2).values(actor="nobody"))
    assert store.verify_audit() == (2, "entry 2 was altered")
    with pytest.raises(KeyRequestError, match="scopes"):
        store.create("x", ["superuser"], actor="ops")
    with pytest.raises(KeyRequestError, match="no key"):
        store.revoke("nosuchkeyx", actor="ops")
    store.engine.dispose()


def test_token_bucket_refills_at_its_rate():
    bucket = TokenBucket(rate=10.0, burst=5, now=0.0)
    assert [bucket.take(0.0) for _ in range(5)] == [0.0] * 5
    assert bucket.take(0.0) == pytest.approx(0.1)
    assert bucket.take(0.35) == 0.0 and bucket.take(0.35) == 0.0 and bucket.take(0.35) == 0.0
    assert bucket.take(0.35) > 0  # 3.5 tokens came back, three were taken

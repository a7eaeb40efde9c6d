"""Fuzzing the API: ≥ 2,000 hostile bodies from hypothesis (nested JSON, huge numbers, wrong
types, card numbers in every field, unicode, wrong content types) in-process, and schemathesis
against ``/openapi.json`` of a real ``flowlet api``. No answer may be a 5xx, the API must still
serve a valid post afterwards, and no card number may reach the data folder."""

from __future__ import annotations

import json
import random
from collections import Counter

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.contract.pan import luhn_ok
from core.processes import free_port
from core.settings import Settings
from streams.api import create_api
from streams.topics import ensure_topics

from .pan_scan import needles_for, pan_hits
from .test_api import EVENT

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FUZZ_CASES = 2000
SCHEMATHESIS_CASES = 40  # per operation and mode


def random_pans(n: int, seed: int = 17) -> list[str]:
    """Irregular Luhn-valid numbers (a 4111… could match a float's digits in the lake)."""
    rng, out = random.Random(seed), []
    while len(out) < n:
        body = str(rng.choice("3456")) + "".join(rng.choice("0123456789") for _ in range(14))
        out += [body + d for d in "0123456789" if luhn_ok(body + d)]
    return out[:n]


PANS = random_pans(8)


def pan_forms(pan: str) -> list[str]:
    g = [pan[i:i + 4] for i in range(0, len(pan), 4)]
    return [".".join(g), ":".join(g), "_".join(g), "-".join(g), f"tx-{'.'.join(g)}",
            f"id:{':'.join(g)}:end", f"card {' '.join(g)} exp", pan, f"x{pan}y"]


FORMS = [form for pan in PANS for form in pan_forms(pan)]
json_leaf = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
             | st.text(max_size=40) | st.sampled_from(FORMS)
             | st.integers(min_value=10**20, max_value=10**400))
json_value = st.recursive(json_leaf, lambda kids: st.lists(kids, max_size=4)
                          | st.dictionaries(st.text(max_size=12), kids, max_size=4),
                          max_leaves=12)
field = st.sampled_from(sorted({*EVENT, "card_token", "merchant_id", "device_id", "mcc",
                                "ip_address", "extra"}))
mutated = st.builds(lambda k, v: {**EVENT, k: v}, field, json_value | st.sampled_from(FORMS))
deep = st.builds(lambda n, kind: (kind[0] * n + kind[1] * n),
                 st.integers(1, 200_000), st.sampled_from([("[", "]"), ('{"a":[', "]}")]))


@st.composite
def hostile(draw: st.DrawFn) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["mutated", "batch", "any", "deep", "bytes", "unicode"]))
    if kind == "mutated":
        body = json.dumps(draw(mutated)).encode()
    elif kind == "batch":
        body = json.dumps(draw(st.lists(mutated | json_value, max_size=6))).encode()
    elif kind == "any":
        body = json.dumps(draw(json_value)).encode()
    elif kind == "deep":
        body = draw(deep).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=200))
    else:
        body = json.dumps({**EVENT, "transaction_id": draw(st.text(min_size=1, max_size=70))},
                          ensure_ascii=draw(st.booleans())).encode()
    content_type = draw(st.sampled_from(["application/json"] * 6 + [
        "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1",
        "application/problem+json", ""]))
    return body, content_type


def test_hostile_bodies_never_5xx_and_leave_no_card_number(broker, tmp_path, key_headers):
    s = Settings(data_dir=tmp_path / "data", broker=broker.bootstrap, partitions=2)
    ensure_topics(s)
    counts: Counter[int] = Counter()
    with TestClient(create_api(s), headers=key_headers(s)) as client:

        @settings(max_examples=FUZZ_CASES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(hostile())
        def post(case: tuple[bytes, str]) -> None:
            body, content_type = case
            resp = client.post("/v1/transactions", content=body,
                               headers={"content-type": content_type} if content_type else {})
            counts[resp.status_code] += 1
            assert resp.status_code < 500, (body[:300], resp.text[:300])

        post()
        valid = {**EVENT, "transaction_id": "after-the-fuzz"}
        assert client.post("/v1/transactions", json=valid).json()["status"] == "accepted"
    print(f"\nFUZZ hypothesis: {sum(counts.values())} hostile bodies, by status "
          f"{dict(sorted(counts.items()))}")
    assert sum(counts.values()) >= FUZZ_CASES
    assert pan_hits(s.data_dir, needles_for(FORMS)) == {}


def test_schemathesis_finds_no_5xx_and_no_spec_mismatch(broker, tmp_path, spawn, wait_http_ok,
                                                         api_key):
    import base64

    import schemathesis
    from hypothesis import Phase
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis import checks as c

    from cases import CaseStore

    s = Settings(data_dir=tmp_path / "data", broker=broker.bootstrap, partitions=2,
                 api_port=free_port())
    ensure_topics(s)
    CaseStore(s.database_url).add_user("lea", "lead", "correct horse battery")
    # A key (X-API-Key) for the keyed routes and a lead's login (Basic) for the actions.
    login = base64.b64encode(b"lea:correct horse battery").decode()
    headers = {"X-API-Key": api_key(s), "Authorization": f"Basic {login}"}
    api = spawn("api", ["api"], s)
    base = f"http://{s.api_host}:{s.api_port}"
    wait_http_ok(f"{base}/healthz", child=api)
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    checks = [c.not_a_server_error, c.status_code_conformance, c.content_type_conformance,
              c.response_headers_conformance]
    def rejects_invalid(ctx, response, case):  # type: ignore[no-untyped-def]
        """schemathesis' check, with 413 (a batch over maxItems) counted as a refusal."""
        return response.status_code == 413 or c.negative_data_rejection(ctx, response, case)

    counts: Counter[int] = Counter()

    def fuzz(strategy, op_checks) -> None:  # type: ignore[no-untyped-def]
        @settings(max_examples=SCHEMATHESIS_CASES, deadline=None, database=None,
                  derandomize=True, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def call(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(base_url=base, headers=headers, timeout=30)
            counts[response.status_code] += 1
            case.validate_response(response, checks=op_checks, headers=headers)

        call()

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        # Schema-violating bodies must be refused. Not checked for query strings: on the wire
        # every value is a string, so "false" for a string-or-null parameter is valid there.
        op_checks = checks + ([rejects_invalid] if operation.body else [])
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation.as_strategy(generation_mode=mode), op_checks)
            except Unsatisfiable:  # no invalid input exists for it (no parameters, no body)
                assert mode == GenerationMode.NEGATIVE, operation.label
    print(f"\nFUZZ schemathesis: {sum(counts.values())} cases over {len(operations)} "
          f"operations, by status {dict(sorted(counts.items()))}")
    assert httpx.post(f"{base}/v1/transactions", headers=headers, timeout=10,
                      json={**EVENT, "transaction_id": "after-schemathesis"}).status_code == 200
    assert api.stop() == 0, api.tail()

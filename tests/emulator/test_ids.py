"""Ids shaped like AWS's: request ids are version 4 UUIDs, API Gateway's are 15 URL-safe
alphanumerics and '=', and neither repeats."""

from __future__ import annotations

import re
import uuid

from relay.emulator import ids


def test_request_ids_are_distinct_version_4_uuids() -> None:
    made = [ids.request_id() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    for text in made[:2_000]:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


def test_gateway_request_ids_look_like_api_gateways() -> None:
    made = [ids.gateway_request_id() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(r"[A-Za-z0-9]{15}=", text) for text in made)

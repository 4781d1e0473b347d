"""SigV4 verification against requests signed by botocore itself (no network)."""

from __future__ import annotations

import time

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from relay.emulator.credentials import LOCAL_CREDENTIALS, Credentials, CredentialStore
from relay.emulator.sigv4 import SignatureError, verify

URL = "http://127.0.0.1:4510/local/@connections/abc%3D"


def _botocore(creds: Credentials) -> BotocoreCredentials:
    return BotocoreCredentials(creds.access_key, creds.secret_key, creds.session_token)


def _header_signed(
    creds: Credentials,
    body: bytes = b"hello",
    service: str = "execute-api",
    region: str = "us-east-1",
) -> AWSRequest:
    request = AWSRequest(method="POST", url=URL, data=body)
    SigV4Auth(_botocore(creds), service, region).add_auth(request)
    return request


def _check(
    request: AWSRequest, store: CredentialStore, now: float | None = None, body: bytes | None = None
):
    path, _, query = request.url.split("127.0.0.1:4510", 1)[1].partition("?")
    headers = [("Host", "127.0.0.1:4510"), *request.headers.items()]
    return verify(
        method=request.method,
        path=path,
        query=query,
        headers=headers,
        body=request.body if body is None else body,
        service="execute-api",
        region="us-east-1",
        store=store,
        now=now,
    )


@pytest.fixture()
def store() -> CredentialStore:
    return CredentialStore("123456789012")


def test_header_signature_is_accepted_with_the_signers_identity(store: CredentialStore) -> None:
    identity = _check(_header_signed(LOCAL_CREDENTIALS), store)
    assert identity.access_key == "relay-local"
    assert identity.principal_arn == "arn:aws:iam::123456789012:user/relay-local"


def test_issued_role_credentials_with_session_token_are_accepted(store: CredentialStore) -> None:
    creds = store.issue("fn-role", "fn")
    assert creds.access_key.startswith("ASIA") and creds.session_token
    identity = _check(_header_signed(creds), store)
    assert identity.principal_arn == "arn:aws:sts::123456789012:assumed-role/fn-role/fn"
    assert identity.caller == "fn"


def test_presigned_url_is_accepted(store: CredentialStore) -> None:
    request = AWSRequest(method="GET", url="http://127.0.0.1:4510/local?role=client&stage=a")
    SigV4QueryAuth(_botocore(LOCAL_CREDENTIALS), "execute-api", "us-east-1", 60).add_auth(request)
    assert "X-Amz-Signature=" in request.url
    assert _check(request, store, body=b"").access_key == "relay-local"


def _refusal(excinfo: pytest.ExceptionInfo[SignatureError]) -> tuple[int, str, str]:
    return excinfo.value.status, excinfo.value.error_type, excinfo.value.message


def test_wrong_secret_is_refused_with_aws_wording(store: CredentialStore) -> None:
    with pytest.raises(SignatureError) as excinfo:
        _check(_header_signed(Credentials("relay-local", "not-the-secret")), store)
    status, error_type, message = _refusal(excinfo)
    assert (status, error_type) == (403, "InvalidSignatureException")
    assert message.startswith("The request signature we calculated does not match")


def test_tampered_body_is_refused(store: CredentialStore) -> None:
    with pytest.raises(SignatureError) as excinfo:
        _check(_header_signed(LOCAL_CREDENTIALS, b"hello"), store, body=b"HELLO")
    assert excinfo.value.error_type == "InvalidSignatureException"


def test_unknown_access_key_is_refused_and_says_which_key_to_use(store: CredentialStore) -> None:
    with pytest.raises(SignatureError) as excinfo:
        _check(_header_signed(Credentials("AKIAUNKNOWN", "secret")), store)
    status, error_type, message = _refusal(excinfo)
    assert (status, error_type) == (403, "UnrecognizedClientException")
    assert message.startswith("The security token included in the request is invalid.")
    assert "'relay-local'" in message


def test_wrong_session_token_is_refused(store: CredentialStore) -> None:
    creds = store.issue("fn-role", "fn")
    with pytest.raises(SignatureError) as excinfo:
        _check(_header_signed(creds._replace(session_token="forged")), store)
    assert excinfo.value.error_type == "UnrecognizedClientException"


def test_expired_role_credentials_are_refused(store: CredentialStore) -> None:
    creds = store.issue("fn-role", "fn", ttl=60)
    with pytest.raises(SignatureError) as excinfo:
        _check(_header_signed(creds), store, now=time.time() + 120)
    # The clock moved past both the token's expiry and the 5-minute signature window check
    # only for the token (120 s < 300 s), so the token is what is reported.
    assert _refusal(excinfo) == (
        403,
        "ExpiredTokenException",
        "The security token included in the request is expired",
    )


def test_signature_older_than_five_minutes_is_refused(store: CredentialStore) -> None:
    with pytest.raises(SignatureError) as excinfo:
        _check(_header_signed(LOCAL_CREDENTIALS), store, now=time.time() + 301)
    assert excinfo.value.error_type == "InvalidSignatureException"
    assert excinfo.value.message.startswith("Signature expired: ")


def test_expired_presigned_url_is_refused(store: CredentialStore) -> None:
    request = AWSRequest(method="GET", url="http://127.0.0.1:4510/local")
    SigV4QueryAuth(_botocore(LOCAL_CREDENTIALS), "execute-api", "us-east-1", 5).add_auth(request)
    with pytest.raises(SignatureError) as excinfo:
        _check(request, store, now=time.time() + 10, body=b"")
    assert excinfo.value.message.startswith("Signature expired: presigned URL")


def test_unsigned_request_is_refused(store: CredentialStore) -> None:
    with pytest.raises(SignatureError) as excinfo:
        verify(
            method="GET",
            path="/local",
            query="",
            headers=[("Host", "x")],
            body=b"",
            service="execute-api",
            region="us-east-1",
            store=store,
        )
    assert _refusal(excinfo) == (
        403,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    )


@pytest.mark.parametrize(
    ("service", "region", "fragment"),
    [
        ("lambda", "us-east-1", "scoped to correct service"),
        ("execute-api", "eu-west-1", "scoped to a valid region"),
    ],
)
def test_scope_must_match_service_and_region(
    store: CredentialStore, service: str, region: str, fragment: str
) -> None:
    with pytest.raises(SignatureError) as excinfo:
        _check(_header_signed(LOCAL_CREDENTIALS, service=service, region=region), store)
    assert fragment in excinfo.value.message


@pytest.mark.parametrize("stamp", ["20261301T000000Z", "20260101T250000Z", "2026-01-01T00:00Z"])
def test_malformed_amz_date_is_refused_with_aws_wording(store: CredentialStore, stamp: str) -> None:
    request = _header_signed(LOCAL_CREDENTIALS)
    request.headers.replace_header("X-Amz-Date", stamp)
    with pytest.raises(SignatureError) as excinfo:
        _check(request, store)
    assert excinfo.value.error_type == "IncompleteSignatureException"
    assert excinfo.value.message == f"Date must be in ISO-8601 'basic format'. Got '{stamp}'."


def test_a_second_request_signed_the_same_day_is_checked_in_full(store: CredentialStore) -> None:
    """The derived key is kept per day and credential; each signature is still recomputed."""
    issued = store.issue("role", "fn")
    assert _check(_header_signed(issued, b"one"), store).access_key == issued.access_key
    assert _check(_header_signed(issued, b"two"), store).access_key == issued.access_key
    with pytest.raises(SignatureError) as excinfo:
        _check(_header_signed(issued, b"two"), store, body=b"three")
    assert excinfo.value.error_type == "InvalidSignatureException"

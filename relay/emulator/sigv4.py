"""Verify AWS Signature Version 4 on incoming requests by recomputing it with botocore.

Both forms AWS accepts are checked: the `Authorization` header and the query-string
presigned URL (`X-Amz-Signature=...`). Errors carry API Gateway's status, error type and
wording, so boto3 raises the same exceptions it would against AWS.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from calendar import timegm
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from relay.emulator.credentials import LOCAL_ACCESS_KEY, CredentialStore

_ALGORITHM = "AWS4-HMAC-SHA256"
_SKEW = 5 * 60  # AWS rejects signatures dated more than 5 minutes from its clock
_HINT = (
    f" (relay emulator: sign with the local developer credentials, access key "
    f"'{LOCAL_ACCESS_KEY}', or a function's role credentials.)"
)


class SignatureError(Exception):
    """A request the gateway must refuse with 403 and an AWS error body."""

    def __init__(self, error_type: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Identity:
    """Who signed the request, as API Gateway puts it in `requestContext.identity`."""

    access_key: str
    principal_arn: str
    account_id: str

    @property
    def caller(self) -> str:
        return self.principal_arn.rsplit("/", 1)[-1]


_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")


def _amz_time(stamp: str) -> float:
    """Epoch seconds of `YYYYMMDDTHHMMSSZ` (strptime cost a tenth of each verification)."""
    match = _AMZ_DATE.fullmatch(stamp)
    fields = tuple(int(part) for part in match.groups()) if match else ()
    if (
        not fields
        or not (1 <= fields[1] <= 12 and 1 <= fields[2] <= 31)
        or fields[3] > 23
        or fields[4] > 59
        or fields[5] > 61
    ):
        raise SignatureError(
            "IncompleteSignatureException",
            f"Date must be in ISO-8601 'basic format'. Got '{stamp}'.",
        )
    return float(timegm(fields))


@lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key, as botocore's `SigV4Auth.signature` derives it (four HMACs per
    request there); it changes once a day per credential, so it is kept."""
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _parse_authorization(value: str) -> dict[str, str]:
    algorithm, _, rest = value.partition(" ")
    if algorithm != _ALGORITHM:
        raise SignatureError(
            "IncompleteSignatureException",
            f"Unsupported authorization type {algorithm!r}; expected {_ALGORITHM}.",
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, val = part.strip().partition("=")
        if sep:
            fields[key] = val
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in fields]
    if missing:
        raise SignatureError(
            "IncompleteSignatureException",
            f"Authorization header requires {', '.join(missing)} parameter(s).",
        )
    return fields


def verify(
    *,
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    service: str,
    region: str,
    store: CredentialStore,
    now: float | None = None,
) -> Identity:
    """Return the signer's identity, or raise `SignatureError` as API Gateway would."""
    now = time.time() if now is None else now
    lower: dict[str, list[str]] = {}
    for name, value in headers:
        lower.setdefault(name.lower(), []).append(value)
    authorization = lower.get("authorization", [None])[0]
    query_pairs = [p.partition("=") for p in query.split("&")] if query else []
    query_params = {unquote(k): unquote(v) for k, _, v in query_pairs}

    if authorization:
        fields = _parse_authorization(authorization)
        credential, signed, signature = (
            fields["Credential"],
            fields["SignedHeaders"],
            fields["Signature"],
        )
        amz_date = (lower.get("x-amz-date") or [""])[0]
        if not amz_date:
            raise SignatureError(
                "IncompleteSignatureException",
                "Authorization header requires existence of either a 'X-Amz-Date' or a "
                "'Date' header.",
            )
        tokens = lower.get("x-amz-security-token")
        token = tokens[0] if tokens else None
        canonical_query = query
        expires = None
    elif "X-Amz-Signature" in query_params:
        if query_params.get("X-Amz-Algorithm") != _ALGORITHM:
            raise SignatureError(
                "IncompleteSignatureException", f"X-Amz-Algorithm must be {_ALGORITHM}."
            )
        try:
            credential = query_params["X-Amz-Credential"]
            signed = query_params["X-Amz-SignedHeaders"]
            signature = query_params["X-Amz-Signature"]
            amz_date = query_params["X-Amz-Date"]
            expires = int(query_params.get("X-Amz-Expires", "900"))
        except (KeyError, ValueError) as exc:
            raise SignatureError(
                "IncompleteSignatureException", f"Presigned URL is missing or has a bad {exc}."
            ) from None
        token = query_params.get("X-Amz-Security-Token")
        canonical_query = "&".join(
            f"{k}{sep}{v}" for k, sep, v in query_pairs if k != "X-Amz-Signature"
        )
    else:
        raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")

    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise SignatureError(
            "IncompleteSignatureException",
            f"Credential must have exactly 5 slash-delimited elements, e.g. "
            f"keyID/date/region/service/term, got '{credential}'",
        )
    access_key, scope_date, scope_region, scope_service, _ = scope
    if scope_region != region:
        raise SignatureError(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region, not '{scope_region}'. "
            f"The emulator serves region '{region}'.",
        )
    if scope_service != service:
        raise SignatureError(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{service}'.",
        )
    signed_at = _amz_time(amz_date)
    if scope_date != amz_date[:8]:
        raise SignatureError(
            "InvalidSignatureException",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
            f"date from HTTP: '{scope_date}' != '{amz_date[:8]}'",
        )
    if expires is not None:
        if now > signed_at + expires:
            raise SignatureError(
                "AccessDeniedException",
                f"Signature expired: presigned URL dated {amz_date} expired after "
                f"{expires} seconds.",
            )
    elif abs(now - signed_at) > _SKEW:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        edge = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now - _SKEW))
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than {edge} ({stamp} - 5 min.)",
        )

    known = store.lookup(access_key)
    if known is None or (known.credentials.session_token or None) != (token or None):
        raise SignatureError(
            "UnrecognizedClientException",
            "The security token included in the request is invalid." + _HINT,
        )
    if known.expired(now):
        raise SignatureError(
            "ExpiredTokenException", "The security token included in the request is expired"
        )

    signed_names = signed.split(";")
    if "host" not in signed_names:
        raise SignatureError(
            "InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization."
        )
    request = AWSRequest(
        method=method,
        url=f"http://{(lower.get('host') or ['localhost'])[0]}{path}"
        + (f"?{canonical_query}" if canonical_query else ""),
        data=body,
    )
    for name in signed_names:
        for value in lower.get(name, []):
            request.headers.add_header(name, value)
    creds = known.credentials
    auth = SigV4Auth(
        BotocoreCredentials(creds.access_key, creds.secret_key, creds.session_token),
        service,
        region,
    )
    request.context["timestamp"] = amz_date
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    key = _signing_key(creds.secret_key, amz_date[:8], region, service)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise SignatureError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.",
        )
    return Identity(access_key, known.principal_arn, store.account_id)


def verify_request(request: Any, *, service: str, region: str, store: CredentialStore) -> Identity:
    """`verify` for a request of relay's HTTP server (`relay.emulator.http.Request`)."""
    return verify(
        method=request.method,
        path=request.path,
        query=request.query,
        headers=request.headers,
        body=request.body,
        service=service,
        region=region,
        store=store,
    )

"""The credentials the emulator knows: the well-known local developer pair and the
temporary role credentials it issues to each function it runs (as STS would).

Issued secrets live in this process's memory only; nothing here is written to disk.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from typing import NamedTuple

#: The documented local developer pair (like LocalStack's test/test): not a secret.
LOCAL_ACCESS_KEY = "relay-local"
LOCAL_SECRET_KEY = "relay-local-secret"

_ALPHABET = string.ascii_uppercase + string.digits


class Credentials(NamedTuple):
    """An access key pair, optionally temporary; indexable like `(access, secret, token)`."""

    access_key: str
    secret_key: str
    session_token: str | None = None

    def boto3_kwargs(self) -> dict[str, str | None]:
        """Keyword arguments for `boto3.client(...)`."""
        return {
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "aws_session_token": self.session_token,
        }


LOCAL_CREDENTIALS = Credentials(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)


def local_principal_arn(account_id: str) -> str:
    """Who signs with the local developer pair (the owner of every local stage)."""
    return f"arn:aws:iam::{account_id}:user/{LOCAL_ACCESS_KEY}"


class KnownCredentials(NamedTuple):
    credentials: Credentials
    principal_arn: str
    expires_at: float | None  # epoch seconds; None = never

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and (now or time.time()) >= self.expires_at


class CredentialStore:
    """Access key → credentials; thread-safe, since functions are created from any thread."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self._lock = threading.Lock()
        self._known: dict[str, KnownCredentials] = {}
        self.add(LOCAL_CREDENTIALS, local_principal_arn(account_id))

    def add(
        self, credentials: Credentials, principal_arn: str, expires_at: float | None = None
    ) -> None:
        with self._lock:
            self._known[credentials.access_key] = KnownCredentials(
                credentials, principal_arn, expires_at
            )

    def issue(self, role_name: str, session_name: str, ttl: float = 12 * 3600) -> Credentials:
        """Temporary credentials for an assumed role, like STS AssumeRole returns."""
        creds = Credentials(
            "ASIA" + "".join(secrets.choice(_ALPHABET) for _ in range(16)),
            secrets.token_urlsafe(30),
            secrets.token_urlsafe(96),
        )
        arn = f"arn:aws:sts::{self.account_id}:assumed-role/{role_name}/{session_name}"
        self.add(creds, arn, time.time() + ttl)
        return creds

    def lookup(self, access_key: str) -> KnownCredentials | None:
        with self._lock:
            return self._known.get(access_key)

"""Temporary access keys bound to a run: they expire, and are revoked when the run ends.

Kept beside the permanent keys of ``gateway.auth.users`` under their own prefix, written inside
the caller's transaction (the run record, its branch and its key appear atomically):

* ``u/t/<access key id>`` -> [user, sealed secret, run id, expires_at, creation_date]

A temporary key authenticates as its user with ``Principal.run`` set, so the authorizer and the
ref mapping know it; it can never do more than the user's own grants allow (checked live at each
request). Ids start with ``ASIA`` like AWS's temporary keys, so they are told apart from
permanent ones (``AKIA``) in logs. The secret is sealed like a permanent one.
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass

from gateway.auth.crypto import SecretBox
from gateway.core import codec
from gateway.core.errors import UserNotFound
from gateway.core.ports import KVReader, KVWriter

PREFIX = b"u/t/"
KEY_ID_PREFIX = "ASIA"
_ALPHABET = string.ascii_uppercase + string.digits
_USER = b"u/n/"


@dataclass(frozen=True, slots=True)
class TemporaryKey:
    """A temporary key as stored (the secret still sealed)."""

    access_key_id: str
    user: str
    sealed: bytes
    run: str
    expires_at: float
    creation_date: float

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at


def _key(access_key_id: str) -> bytes:
    return PREFIX + access_key_id.encode()


def is_temporary(access_key_id: str) -> bool:
    return access_key_id.startswith(KEY_ID_PREFIX)


def get(r: KVReader, access_key_id: str) -> TemporaryKey | None:
    raw = r.get(_key(access_key_id))
    if raw is None:
        return None
    user, sealed, run, expires, created = codec.unpack(raw)
    return TemporaryKey(access_key_id, user, sealed, run, float(expires), float(created))


def create(
    w: KVWriter, box: SecretBox, *, user: str, run: str, expires_at: float
) -> tuple[str, str]:
    """Store a new temporary key for ``user`` bound to ``run``; returns (key id, secret).

    Raises UserNotFound.
    """
    if w.get(_USER + user.encode()) is None:
        raise UserNotFound(f"user {user!r} does not exist")
    while True:
        key_id = KEY_ID_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(16))
        if w.get(_key(key_id)) is None:
            break
    secret = secrets.token_urlsafe(30)
    now = time.time()
    w.put(_key(key_id), codec.pack([user, box.seal(secret, key_id), run, expires_at, now]))
    return key_id, secret


def renew(w: KVWriter, access_key_id: str, expires_at: float) -> bool:
    """Move a live key's expiry; False when it is revoked or already expired."""
    found = get(w, access_key_id)
    if found is None or found.expired():
        return False
    w.put(
        _key(access_key_id),
        codec.pack([found.user, found.sealed, found.run, expires_at, found.creation_date]),
    )
    return True


def revoke(w: KVWriter, access_key_id: str) -> bool:
    return w.delete(_key(access_key_id))

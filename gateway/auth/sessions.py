"""Browser sessions: an access key pair signed in once, then a cookie, kept in the metadata store.

A session is created by signing in with an access key pair (``UserStore.lookup`` checks it) and
is identified by a random token that only the browser holds (in an HttpOnly cookie). The store
keeps the SHA-256 of the token, never the token, so a copy of the metadata store cannot be used
to ride a live session. Each session also holds a CSRF token that the browser must echo in a
header on every mutating request (the cookie alone is ambient authority; the header is not).

Sessions live in the shared metadata store, not in process memory, so every worker process and
every gateway in front of one store honours the same sessions, and signing out in one of them
ends the session everywhere at once. Nothing is cached: a session check is one point read.

Key layout (this module owns the ``s/`` prefix and nothing else):

* ``s/t/<sha256 hex of token>``       -> [user, access key id, created, expires, csrf token]
* ``s/e/<expires, 8 bytes BE><hash>`` -> b"" (expiry index: expired sessions are removed by a
  range scan at each sign-in, so abandoned sessions do not pile up)

A session is only as strong as the access key it was opened with: authentication re-checks that
key on every request (``UserStore.lookup``), so revoking the key or deleting the user ends its
sessions at once.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import struct
import time
from dataclasses import dataclass, field

from gateway.core import codec
from gateway.core.ports import KVReader, KVStore, KVWriter

_TOKEN = b"s/t/"
_EXPIRY = b"s/e/"
#: Expired sessions removed per sign-in (bounds the cost of one sign-in).
SWEEP_BATCH = 1000
DEFAULT_TTL = 12 * 3600.0


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser. ``token`` is only known right after ``create`` (else empty)."""

    user: str
    access_key_id: str
    created: float
    expires: float
    csrf_token: str = field(repr=False)
    token: str = field(default="", repr=False)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _expiry_key(expires: float, digest: str) -> bytes:
    return _EXPIRY + struct.pack(">Q", int(expires)) + digest.encode()


def _decode(raw: bytes) -> Session:
    user, key_id, created, expires, csrf = codec.unpack(raw)
    return Session(user, key_id, float(created), float(expires), csrf)


class SessionStore:
    """Sessions over a ``KVStore`` (only ``s/`` keys).

    Args:
        kv: the metadata store.
        ttl: a session's lifetime in seconds from sign-in (absolute, not sliding).
    """

    def __init__(self, kv: KVStore, ttl: float = DEFAULT_TTL) -> None:
        self._kv = kv
        self.ttl = ttl

    async def create(self, user: str, access_key_id: str) -> Session:
        """Open a session for an authenticated key; returns it with its token (shown once).

        Also removes up to ``SWEEP_BATCH`` expired sessions, in the same transaction.
        """
        token = secrets.token_urlsafe(32)
        now = time.time()
        session = Session(
            user=user,
            access_key_id=access_key_id,
            created=now,
            expires=now + self.ttl,
            csrf_token=secrets.token_urlsafe(32),
            token=token,
        )
        digest = _digest(token)
        record = codec.pack([user, access_key_id, now, session.expires, session.csrf_token])

        def write(w: KVWriter) -> None:
            end = _EXPIRY + struct.pack(">Q", int(now))
            stale = [k for k, _ in itertools.islice(w.scan(_EXPIRY, end), SWEEP_BATCH)]
            for k in stale:
                w.delete(_TOKEN + k[len(_EXPIRY) + 8 :])
                w.delete(k)
            w.put(_TOKEN + digest.encode(), record)
            w.put(_expiry_key(session.expires, digest), b"")

        await self._kv.write(write)
        return session

    async def get(self, token: str) -> Session | None:
        """The live session for a browser's token, or None (unknown, expired or signed out)."""
        if not token or len(token) > 256:
            return None
        key = _TOKEN + _digest(token).encode()

        def read(r: KVReader) -> bytes | None:
            return r.get(key)

        raw = await self._kv.read(read)
        if raw is None:
            return None
        session = _decode(raw)
        if session.expires <= time.time():
            return None
        return session

    async def delete(self, token: str) -> bool:
        """Sign out: the token stops working in every process when this returns."""
        digest = _digest(token)
        key = _TOKEN + digest.encode()

        def write(w: KVWriter) -> bool:
            raw = w.get(key)
            if raw is None:
                return False
            w.delete(_expiry_key(_decode(raw).expires, digest))
            w.delete(key)
            return True

        return await self._kv.write(write)

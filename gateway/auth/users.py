"""Users, their access keys and grants, kept in the metadata KV store.

``UserStore`` is both the ``Authenticator`` (access key -> principal and secret) and the
``Authorizer`` (may this principal do this action here?) that the S3 and admin layers share.

Key layout (this module owns the ``u/`` and ``g/`` prefixes and nothing else):

* ``u/n/<user>``              -> [creation_date, is_admin]
* ``u/k/<access_key_id>``     -> [user, sealed secret, creation_date]
* ``u/uk/<user>/<key id>``    -> b"" (index: a user's keys, for listing and deletion)
* ``g/<user>/<grant id>``     -> [repository glob, branch glob, action name]
* ``u/c``                     -> a sealed known text: which encryption key sealed this store

User names and access key ids never contain ``/``, so a ``<user>/`` prefix scan is exact.

Concurrency: every mutation is one KV write transaction, so it is atomic and durable when it
returns. Lookups and checks are served from an in-process cache (each S3 request authenticates,
and a KV round trip per request would cost more than the request). Every mutation touches the
``auth`` topic in its transaction (``KVWriter.touch``), and every lookup first compares
``KVStore.generation("auth")`` -- a point read of a counter, ~1.5 us on LMDB -- with the
generation the cache was filled under, dropping the cache when they differ. So a revoked key or
grant stops working, in every process sharing the store (``weir serve --workers``, several
gateways on one database), as soon as the revoking call returns. A lookup whose read raced with
a newer generation does not populate the cache. See docs/decisions/0012-cache-invalidation.md.

Secrets are sealed with ``SecretBox`` (AES-GCM) before they reach the store and are never put in
a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.auth import temporary
from gateway.auth.crypto import SecretBox, SecretKeyError
from gateway.auth.grants import Grant, allows, parse_action, ref_base_name
from gateway.core import codec
from gateway.core.access import Action, Principal
from gateway.core.errors import (
    AccessDenied,
    AlreadyExists,
    Conflict,
    InvalidArgument,
    InvalidName,
    NotFound,
    UserNotFound,
)
from gateway.core.ports import KVReader, KVStore, KVWriter

T = TypeVar("T")

_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+=-]{0,127}$")
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,127}$")
_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits
_MAX_SECRET = 256
DEFAULT_ADMIN = "admin"
#: The cache-invalidation topic of users, access keys and grants (``KVWriter.touch``).
AUTH_TOPIC = "auth"

_USER = b"u/n/"
_KEY_CHECK = b"u/c"
_KEY_CHECK_TEXT = "weir-encryption-key-check"
_KEY = b"u/k/"
_USER_KEYS = b"u/uk/"
_GRANT = b"g/"


class AccessKeyNotFound(NotFound):
    """An access key id is unknown (or belongs to another user)."""


class GrantNotFound(NotFound):
    pass


@dataclass(frozen=True, slots=True)
class User:
    name: str
    creation_date: float
    admin: bool = False


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An access key's public half."""

    access_key_id: str
    user: str
    creation_date: float


@dataclass(frozen=True, slots=True)
class NewCredentials:
    """A key pair as created: the only time the secret leaves the store in a response."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    user: str = ""
    creation_date: float = 0.0


def validate_user_name(name: str) -> str:
    if not _USER_RE.match(name):
        raise InvalidName(
            f"invalid user name {name!r}: 1-128 of letters, digits and ._@+=- "
            "(starting with a letter or digit)"
        )
    return name


def validate_key_id(key_id: str) -> str:
    if not _KEY_ID_RE.match(key_id):
        raise InvalidName("invalid access key id: 3-128 of letters, digits and ._-")
    return key_id


def generate_credentials() -> tuple[str, str]:
    """A new (access key id, secret): ``AKIA`` + 16 upper-case alphanumerics, 40-char secret."""
    key_id = "AKIA" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))
    return key_id, secrets.token_urlsafe(30)


def _user_key(name: str) -> bytes:
    return _USER + name.encode()


def _access_key(key_id: str) -> bytes:
    return _KEY + key_id.encode()


def _user_keys_prefix(name: str) -> bytes:
    return _USER_KEYS + name.encode() + b"/"


def _grants_prefix(name: str) -> bytes:
    return _GRANT + name.encode() + b"/"


def _prefix_end(prefix: bytes) -> bytes:
    return prefix[:-1] + bytes([prefix[-1] + 1])


def _decode_user(name: str, raw: bytes) -> User:
    created, admin = codec.unpack(raw)
    return User(name=name, creation_date=float(created), admin=bool(admin))


def _decode_grant(raw: bytes) -> Grant:
    repo, branch, action = codec.unpack(raw)
    return Grant(repository=repo, branch=branch, action=parse_action(action))


def _require_user(r: KVReader, name: str) -> User:
    raw = r.get(_user_key(name))
    if raw is None:
        raise UserNotFound(f"user {name!r} does not exist")
    return _decode_user(name, raw)


class UserStore:
    """Users, access keys and grants over a ``KVStore``; Authenticator and Authorizer.

    Args:
        kv: the metadata store (shared with the engine; only ``u/`` and ``g/`` keys are used).
        secret_key: the 32-byte key that seals secrets at rest.
    """

    def __init__(self, kv: KVStore, secret_key: bytes) -> None:
        self._kv = kv
        self._box = SecretBox(secret_key)
        self._gen = -1  # the store's AUTH_TOPIC generation the caches were filled under
        self._principals: dict[str, tuple[Principal, str]] = {}
        self._expiry: dict[str, float] = {}  # temporary keys: when the cached entry dies
        self._grants: dict[str, tuple[Grant, ...]] = {}

    def _fresh(self) -> int:
        """Drop the caches if any process changed users, keys or grants since they were filled;
        return the current generation (read *before* any state it guards)."""
        gen = self._kv.generation(AUTH_TOPIC)
        if gen != self._gen:
            self._principals.clear()
            self._expiry.clear()
            self._grants.clear()
            self._gen = gen
        return gen

    async def _write(self, fn: Callable[[KVWriter], T]) -> T:
        def touching(w: KVWriter) -> T:
            value = fn(w)
            w.touch(AUTH_TOPIC)
            return value

        return await self._kv.write(touching)

    # -- Authenticator ------------------------------------------------------------------------
    async def lookup(self, access_key_id: str) -> tuple[Principal, str] | None:
        """The principal and plaintext secret for an access key, or None if unknown/revoked."""
        gen = self._fresh()
        cached = self._principals.get(access_key_id)
        if cached is not None:
            expiry = self._expiry.get(access_key_id)
            if expiry is None or time.time() < expiry:
                return cached
            self._principals.pop(access_key_id, None)
            return None
        if not _KEY_ID_RE.match(access_key_id):
            return None

        def read(r: KVReader) -> tuple[str, bytes, bool, str, float | None] | None:
            raw = r.get(_access_key(access_key_id))
            run, expires = "", None
            if raw is not None:
                user, sealed, _created = codec.unpack(raw)
            elif temporary.is_temporary(access_key_id):
                found = temporary.get(r, access_key_id)
                if found is None or found.expired():
                    return None
                user, sealed, run, expires = found.user, found.sealed, found.run, found.expires_at
            else:
                return None
            user_raw = r.get(_user_key(user))
            if user_raw is None:
                return None
            return user, sealed, _decode_user(user, user_raw).admin, run, expires

        found = await self._kv.read(read)
        if found is None:
            return None
        user, sealed, admin, run, expires = found
        secret = self._box.open(sealed, access_key_id)
        principal = Principal(user=user, access_key_id=access_key_id, is_admin=admin, run=run)
        result = (principal, secret)
        if gen == self._gen:
            self._principals[access_key_id] = result
            if expires is not None:
                self._expiry[access_key_id] = expires
        return result

    def create_run_credentials(
        self, w: KVWriter, *, user: str, run: str, expires_at: float
    ) -> NewCredentials:
        """Inside the caller's write transaction: a temporary key pair for ``user`` bound to
        ``run`` (see ``gateway.auth.temporary``). Raises UserNotFound."""
        key_id, secret = temporary.create(w, self._box, user=user, run=run, expires_at=expires_at)
        return NewCredentials(key_id, secret, user, time.time())

    @staticmethod
    def revoke_run_credentials(w: KVWriter, access_key_id: str) -> bool:
        """Inside the caller's write transaction: revoke a temporary key, in every process as
        soon as the transaction commits."""
        w.touch(AUTH_TOPIC)
        return temporary.revoke(w, access_key_id)

    @staticmethod
    def renew_run_credentials(w: KVWriter, access_key_id: str, expires_at: float) -> bool:
        """Inside the caller's write transaction: move a live temporary key's expiry."""
        w.touch(AUTH_TOPIC)
        return temporary.renew(w, access_key_id, expires_at)

    # -- Authorizer ---------------------------------------------------------------------------
    async def check(
        self, principal: Principal, action: Action, repo: str | None, branch: str | None = None
    ) -> None:
        """Raise AccessDenied unless ``principal`` may do ``action`` on ``repo``/``branch``.

        Admins may do everything. Others need a grant; see ``gateway.auth.grants`` for how a
        grant's globs meet the scope.
        """
        if principal.is_admin:
            return
        if branch is not None:
            branch = ref_base_name(branch)  # the same rule for S3 keys and admin paths
        grants = await self._user_grants(principal.user)
        if not allows(grants, action, repo, branch):
            where = "globally" if repo is None else f"on {repo!r}"
            if repo is not None and branch is not None:
                where += f" branch {branch!r}"
            raise AccessDenied(f"user {principal.user!r} may not {action.name.lower()} {where}")

    async def _user_grants(self, user: str) -> tuple[Grant, ...]:
        gen = self._fresh()
        cached = self._grants.get(user)
        if cached is not None:
            return cached
        prefix = _grants_prefix(user)

        def read(r: KVReader) -> tuple[Grant, ...]:
            return tuple(_decode_grant(v) for _, v in r.scan(prefix, _prefix_end(prefix)))

        grants = await self._kv.read(read)
        if gen == self._gen:
            self._grants[user] = grants
        return grants

    # -- bootstrap ----------------------------------------------------------------------------
    async def ensure_admin(
        self,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        *,
        user: str = DEFAULT_ADMIN,
    ) -> NewCredentials | None:
        """First-start bootstrap: when no user exists, create admin ``user`` with one key pair.

        The pair is the one given (from ``WEIR_ACCESS_KEY_ID``/``WEIR_SECRET_ACCESS_KEY``) or a
        generated one. Returns the created credentials (print them once), or None when users
        already existed (nothing is changed then). Atomic: two racing callers create one admin.
        """
        if (access_key_id is None) != (secret_access_key is None):
            raise InvalidArgument("give both the access key id and the secret, or neither")
        validate_user_name(user)
        if access_key_id is None or secret_access_key is None:
            access_key_id, secret_access_key = generate_credentials()
        key_id, secret = validate_key_id(access_key_id), secret_access_key
        self._validate_secret(secret)
        sealed = self._box.seal(secret, key_id)
        now = time.time()

        def write(w: KVWriter) -> bool:
            for _ in w.scan(_USER, _prefix_end(_USER)):
                return False
            w.put(_user_key(user), codec.pack([now, True]))
            w.put(_access_key(key_id), codec.pack([user, sealed, now]))
            w.put(_user_keys_prefix(user) + key_id.encode(), b"")
            return True

        created: bool = await self._write(write)
        if not created:
            return None
        return NewCredentials(key_id, secret, user, now)

    async def check_encryption_key(self) -> None:
        """Make sure this server's encryption key is the one the stored secrets are sealed with.

        The first server to start on a store records a sealed known text; every later start
        opens it. Gateways sharing one database must share one key (``auth.encryption_key_file``):
        with another key they could not read a single access key, so they refuse to start.

        Raises:
            SecretKeyError: the key differs from the one that sealed the store.
        """
        sealed = self._box.seal(_KEY_CHECK_TEXT, _KEY_CHECK_TEXT)

        def write(w: KVWriter) -> bytes:
            found = w.get(_KEY_CHECK)
            if found is None:
                w.put(_KEY_CHECK, sealed)
                return sealed
            return found

        record = await self._kv.write(write)
        try:
            self._box.open(record, _KEY_CHECK_TEXT)
        except SecretKeyError:
            raise SecretKeyError(
                "the encryption key (auth.encryption_key_file) is not the one the stored secrets "
                "were sealed with: every gateway of one metadata store needs the same key file"
            ) from None

    # -- users --------------------------------------------------------------------------------
    async def create_user(self, name: str, *, admin: bool = False) -> User:
        """Raises InvalidName, AlreadyExists."""
        validate_user_name(name)
        user = User(name=name, creation_date=time.time(), admin=admin)

        def write(w: KVWriter) -> None:
            if w.get(_user_key(name)) is not None:
                raise AlreadyExists(f"user {name!r} already exists")
            w.put(_user_key(name), codec.pack([user.creation_date, admin]))

        await self._write(write)
        return user

    async def get_user(self, name: str) -> User:
        """Raises UserNotFound."""
        return await self._kv.read(lambda r: _require_user(r, name))

    async def list_users(
        self, *, prefix: str = "", after: str = "", limit: int = 1000
    ) -> tuple[list[User], bool]:
        """Users sorted by name, ``name > after``; returns (page, has_more)."""
        scope = _USER + prefix.encode()
        start = scope
        if after and after >= prefix:
            start = _user_key(after) + b"\x00"

        def read(r: KVReader) -> tuple[list[User], bool]:
            out: list[User] = []
            for k, v in r.scan(start, _prefix_end(scope)):
                if len(out) == limit:
                    return out, True
                out.append(_decode_user(k[len(_USER) :].decode(), v))
            return out, False

        return await self._kv.read(read)

    async def delete_user(self, name: str) -> None:
        """Delete a user with their keys and grants, atomically.

        Raises UserNotFound; Conflict when it is the last admin (nobody could manage users).
        """

        def write(w: KVWriter) -> None:
            user = _require_user(w, name)
            if user.admin:
                admins = sum(
                    1
                    for k, v in w.scan(_USER, _prefix_end(_USER))
                    if _decode_user(k[len(_USER) :].decode(), v).admin
                )
                if admins <= 1:
                    raise Conflict(f"user {name!r} is the last admin and cannot be deleted")
            keys_prefix = _user_keys_prefix(name)
            for k, _ in list(w.scan(keys_prefix, _prefix_end(keys_prefix))):
                w.delete(_access_key(k[len(keys_prefix) :].decode()))
                w.delete(k)
            grants_prefix = _grants_prefix(name)
            for k, _ in list(w.scan(grants_prefix, _prefix_end(grants_prefix))):
                w.delete(k)
            w.delete(_user_key(name))

        await self._write(write)

    # -- access keys --------------------------------------------------------------------------
    @staticmethod
    def _validate_secret(secret: str) -> None:
        if not secret or len(secret) > _MAX_SECRET or not secret.isprintable():
            raise InvalidArgument(f"a secret must be 1-{_MAX_SECRET} printable characters")

    async def create_credentials(
        self,
        user: str,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> NewCredentials:
        """Add a key pair to ``user`` (generated unless given). The secret is returned here
        only; afterwards it is readable solely by the authenticator.

        Raises UserNotFound, AlreadyExists (key id taken), InvalidName, InvalidArgument.
        """
        if access_key_id is None or secret_access_key is None:
            gen_id, gen_secret = generate_credentials()
            access_key_id = access_key_id or gen_id
            secret_access_key = secret_access_key or gen_secret
        key_id = validate_key_id(access_key_id)
        self._validate_secret(secret_access_key)
        sealed = self._box.seal(secret_access_key, key_id)
        now = time.time()

        def write(w: KVWriter) -> None:
            _require_user(w, user)
            if w.get(_access_key(key_id)) is not None:
                raise AlreadyExists(f"access key {key_id!r} already exists")
            w.put(_access_key(key_id), codec.pack([user, sealed, now]))
            w.put(_user_keys_prefix(user) + key_id.encode(), b"")

        await self._write(write)
        return NewCredentials(key_id, secret_access_key, user, now)

    async def list_credentials(
        self, user: str, *, after: str = "", limit: int = 1000
    ) -> tuple[list[AccessKey], bool]:
        """The user's access keys (no secrets), sorted by id, ``id > after``."""
        prefix = _user_keys_prefix(user)
        start = prefix + after.encode() + b"\x00" if after else prefix

        def read(r: KVReader) -> tuple[list[AccessKey], bool]:
            _require_user(r, user)
            out: list[AccessKey] = []
            for k, _ in r.scan(start, _prefix_end(prefix)):
                if len(out) == limit:
                    return out, True
                key_id = k[len(prefix) :].decode()
                raw = r.get(_access_key(key_id))
                created = float(codec.unpack(raw)[2]) if raw is not None else 0.0
                out.append(AccessKey(key_id, user, created))
            return out, False

        return await self._kv.read(read)

    async def delete_credentials(self, user: str, access_key_id: str) -> None:
        """Revoke a key. It stops authenticating when this returns.

        Raises UserNotFound, AccessKeyNotFound (unknown, or another user's key).
        """

        def write(w: KVWriter) -> None:
            _require_user(w, user)
            index = _user_keys_prefix(user) + access_key_id.encode()
            if w.get(index) is None:
                raise AccessKeyNotFound(f"user {user!r} has no access key {access_key_id!r}")
            w.delete(index)
            w.delete(_access_key(access_key_id))

        await self._write(write)

    # -- grants -------------------------------------------------------------------------------
    async def add_grant(self, user: str, grant: Grant) -> Grant:
        """Give ``user`` a grant. Raises UserNotFound, AlreadyExists, InvalidArgument."""
        for pattern in (grant.repository, grant.branch):
            if not pattern or len(pattern) > 256 or not pattern.isprintable():
                raise InvalidArgument("grant patterns must be 1-256 printable characters")

        def write(w: KVWriter) -> None:
            _require_user(w, user)
            key = _grants_prefix(user) + grant.id.encode()
            if w.get(key) is not None:
                raise AlreadyExists(f"user {user!r} already has this grant ({grant.id})")
            w.put(key, codec.pack([grant.repository, grant.branch, grant.action.name.lower()]))

        await self._write(write)
        return grant

    async def list_grants(self, user: str) -> list[Grant]:
        """Every grant of ``user``, sorted by id. Raises UserNotFound."""
        prefix = _grants_prefix(user)

        def read(r: KVReader) -> list[Grant]:
            _require_user(r, user)
            return [_decode_grant(v) for _, v in r.scan(prefix, _prefix_end(prefix))]

        return await self._kv.read(read)

    async def delete_grant(self, user: str, grant_id: str) -> None:
        """Raises UserNotFound, GrantNotFound."""

        def write(w: KVWriter) -> None:
            _require_user(w, user)
            if not w.delete(_grants_prefix(user) + grant_id.encode()):
                raise GrantNotFound(f"user {user!r} has no grant {grant_id!r}")

        await self._write(write)

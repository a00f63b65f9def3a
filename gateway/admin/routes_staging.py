"""lakeFS's presigned staging flow, served by Weir itself (the SDK's ``pre_sign=True`` upload).

1. ``GET .../staging/backing?path=P&presign=True`` hands out a one-time upload URL on this
   server: ``PUT /api/v1/staging/uploads/{token}``. The token (192 random bits) is the capability,
   as a presigned URL's signature is; it is bound to the repository, branch and path, and
   expires after ``STAGING_TTL`` seconds.
2. The client PUTs the bytes there (no credentials): they are streamed into a blob, which stays
   invisible (nothing is staged on the branch yet). The answer carries the MD5 ETag.
3. ``PUT .../staging/backing?path=P`` with ``StagingMetadata`` links the blob at the path: only
   now is the object staged (``If-None-Match: *`` honoured), answering 200 ObjectStats.

Pending uploads live in the metadata store (``keys.PRESIGNED``, bounded by ``MAX_PENDING``), so
every worker process of ``weir serve --workers N`` (and every gateway on a shared database) can
serve any step, and a restart keeps them until they expire. A pending upload's blob is
unreferenced until it is linked; an unlinked one is left to garbage collection.
``/config`` still reports ``pre_sign_support: false``, so clients use this flow only on request.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, replace

from aiohttp import hdrs, web

from gateway.admin import schemas
from gateway.admin.params import j_map, j_opt_str, q_required, read_json
from gateway.admin.routes_objects import CHUNK, PATH, PRESIGN
from gateway.admin.routing import RouteSpec, lake_of, on_branch, principal_of
from gateway.core import codec, keys
from gateway.core.access import Action
from gateway.core.errors import InvalidArgument, NotFound, PreconditionFailed
from gateway.core.ids import BlobId
from gateway.core.lake import Conditions
from gateway.core.model import BlobInfo, Entry
from gateway.core.ports import KVReader, KVStore, KVWriter

STAGING_TTL = 3600
MAX_PENDING = 10_000
ADDRESS_PREFIX = "weir://staging/"


class StagingNotFound(NotFound):
    """An upload token is unknown, expired, used, or for another path."""


_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class Pending:
    repo: str
    branch: str
    path: str
    user: str
    expires: int
    blob: BlobInfo | None = None


def _encode(p: Pending) -> bytes:
    blob = None if p.blob is None else [p.blob.blob_id, p.blob.size, p.blob.md5_hex]
    return codec.pack([p.repo, p.branch, p.path, p.user, p.expires, blob])


def _decode(raw: bytes) -> Pending:
    repo, branch, path, user, expires, blob = codec.unpack(raw)
    info = None if blob is None else BlobInfo(BlobId(blob[0]), int(blob[1]), str(blob[2]))
    return Pending(repo, branch, path, user, int(expires), info)


def _count(r: KVReader) -> int:
    raw = r.get(keys.PRESIGNED_COUNT)
    return 0 if raw is None else int.from_bytes(raw, "big")


def _set_count(w: KVWriter, n: int) -> None:
    w.put(keys.PRESIGNED_COUNT, n.to_bytes(8, "big"))


class StagingArea:
    """One-time upload tokens, kept in the metadata store. Each method is one transaction."""

    def __init__(
        self, kv: KVStore, ttl: float = STAGING_TTL, max_pending: int = MAX_PENDING
    ) -> None:
        self._kv = kv
        self._ttl = ttl
        self._max = max_pending

    async def issue(self, repo: str, branch: str, path: str, user: str) -> tuple[str, int]:
        token = secrets.token_urlsafe(24)
        now = int(time.time())
        expires = now + max(1, int(self._ttl))
        record = _encode(Pending(repo, branch, path, user, expires))

        def write(w: KVWriter) -> None:
            n = _count(w)
            horizon = keys.PRESIGNED_BY_EXPIRY + (now + 1).to_bytes(8, "big")
            expired = [k for k, _ in w.scan(keys.PRESIGNED_BY_EXPIRY, horizon)]
            for k in expired:  # expiry order: only the expired ones are visited
                w.delete(k)
                w.delete(keys.PRESIGNED_BY_TOKEN + k[len(keys.PRESIGNED_BY_EXPIRY) + 8 :])
            n -= len(expired)
            if n >= self._max:
                raise InvalidArgument("too many pending staged uploads; retry later")
            w.put(keys.presigned(token), record)
            w.put(keys.presigned_expiry(expires, token), b"")
            _set_count(w, n + 1)

        await self._kv.write(write)
        return token, expires

    def get(self, token: str) -> Pending:
        """The pending upload ``token`` names (a point read). Raises StagingNotFound."""
        if not _TOKEN_RE.match(token):
            raise StagingNotFound("unknown or expired staging token")
        raw = self._kv.read_sync(lambda r: r.get(keys.presigned(token)))
        pending = None if raw is None else _decode(raw)
        if pending is None or pending.expires <= time.time():
            raise StagingNotFound("unknown or expired staging token")
        return pending

    async def uploaded(self, token: str, blob: BlobInfo) -> None:
        """Record the blob uploaded for ``token``. Raises StagingNotFound."""

        def write(w: KVWriter) -> None:
            raw = w.get(keys.presigned(token))
            pending = None if raw is None else _decode(raw)
            if pending is None or pending.expires <= time.time():
                raise StagingNotFound("unknown or expired staging token")
            w.put(keys.presigned(token), _encode(replace(pending, blob=blob)))

        await self._kv.write(write)

    async def take(self, token: str, repo: str, branch: str, path: str) -> Pending:
        """Remove and return an uploaded token's record if it matches the path (once only)."""
        if not _TOKEN_RE.match(token):
            raise StagingNotFound("unknown or expired staging token")

        def write(w: KVWriter) -> Pending:
            raw = w.get(keys.presigned(token))
            pending = None if raw is None else _decode(raw)
            if pending is None or pending.expires <= time.time():
                raise StagingNotFound("unknown or expired staging token")
            if (pending.repo, pending.branch, pending.path) != (repo, branch, path):
                raise StagingNotFound("the staging token was issued for another path")
            if pending.blob is None:
                raise InvalidArgument("nothing was uploaded to this staging location")
            w.delete(keys.presigned(token))
            w.delete(keys.presigned_expiry(pending.expires, token))
            _set_count(w, max(0, _count(w) - 1))
            return pending

        return await self._kv.write(write)


STAGING = web.AppKey("staging", StagingArea)


async def get_physical_address(request: web.Request) -> web.Response:
    repo, branch = request.match_info["repo"], request.match_info["branch"]
    path = q_required(request, "path")
    await lake_of(request).get_branch(repo, branch)  # 404 now rather than at link time
    token, expires = await request.config_dict[STAGING].issue(
        repo, branch, path, principal_of(request).user
    )
    url = request.url.with_path(f"/api/v1/staging/uploads/{token}").with_query(None)
    return web.json_response(
        {
            "physical_address": ADDRESS_PREFIX + token,
            "presigned_url": str(url),
            "presigned_url_expiry": int(expires),
        }
    )


async def upload_staged(request: web.Request) -> web.Response:
    """The presigned PUT: stream the body into a blob; nothing becomes visible yet."""
    area = request.config_dict[STAGING]
    token = request.match_info["token"]
    area.get(token)  # refuse before reading the body
    blob = await lake_of(request).ingest(request.content.iter_chunked(CHUNK))
    await area.uploaded(token, blob)
    return web.Response(status=200, headers={hdrs.ETAG: f'"{blob.md5_hex}"'})


async def link_physical_address(request: web.Request) -> web.Response:
    repo, branch = request.match_info["repo"], request.match_info["branch"]
    path = q_required(request, "path")
    body = await read_json(request)
    staging = body.get("staging")
    address = staging.get("physical_address") if isinstance(staging, dict) else None
    if not isinstance(address, str) or not address.startswith(ADDRESS_PREFIX):
        raise InvalidArgument("staging.physical_address is not a Weir staging address")
    token = address[len(ADDRESS_PREFIX) :]
    pending = await request.config_dict[STAGING].take(token, repo, branch, path)
    assert pending.blob is not None
    checksum = (j_opt_str(body, "checksum") or "").strip('"')
    if checksum and checksum != pending.blob.md5_hex:
        raise PreconditionFailed("checksum does not match the uploaded bytes")
    entry = Entry(
        address=pending.blob.blob_id,
        size=pending.blob.size,
        etag=pending.blob.md5_hex,
        content_type=j_opt_str(body, "content_type") or "application/octet-stream",
        metadata={k.lower(): v for k, v in j_map(body, "user_metadata").items()},
        mtime=time.time(),
    )
    conditions = Conditions(
        if_match=(request.headers.get(hdrs.IF_MATCH) or "").strip('"') or None,
        if_none_match_any=request.headers.get(hdrs.IF_NONE_MATCH, "").strip() == "*",
    )
    stored = await lake_of(request).put_object(repo, branch, path, entry, conditions=conditions)
    return web.json_response(schemas.object_stats(path, stored))


BACKING = "/repositories/{repo}/branches/{branch}/staging/backing"

ROUTES = [
    RouteSpec(
        "GET",
        BACKING,
        get_physical_address,
        "getPhysicalAddress",
        "A one-time upload URL on this server for `path` (presigned staging, step 1)",
        "staging",
        checks=[on_branch(Action.WRITE)],
        query=[PATH, PRESIGN],
        responses={200: "StagingLocation"},
    ),
    RouteSpec(
        "PUT",
        "/staging/uploads/{token}",
        upload_staged,
        "uploadStaged",
        "Upload the bytes to a staging URL (no credentials: the token is the capability); "
        "nothing is visible until linked",
        "staging",
        public=True,
        body="@raw",
        responses={200: None, 404: "Error"},
    ),
    RouteSpec(
        "PUT",
        BACKING,
        link_physical_address,
        "linkPhysicalAddress",
        "Stage the uploaded bytes at `path` (presigned staging, last step)",
        "staging",
        checks=[on_branch(Action.WRITE)],
        query=[PATH],
        body="StagingMetadata",
        responses={200: "ObjectStats", 412: "Error"},
    ),
]

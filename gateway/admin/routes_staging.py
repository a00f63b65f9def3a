"""lakeFS's presigned staging flow, served by Weir itself (the SDK's ``pre_sign=True`` upload).

1. ``GET .../staging/backing?path=P&presign=True`` hands out a one-time upload URL on this
   server: ``PUT /api/v1/staging/uploads/{token}``. The token (192 random bits) is the capability,
   as a presigned URL's signature is; it is bound to the repository, branch and path, and
   expires after ``STAGING_TTL`` seconds.
2. The client PUTs the bytes there (no credentials): they are streamed into a blob, which stays
   invisible (nothing is staged on the branch yet). The answer carries the MD5 ETag.
3. ``PUT .../staging/backing?path=P`` with ``StagingMetadata`` links the blob at the path: only
   now is the object staged (``If-None-Match: *`` honoured), answering 200 ObjectStats.

Pending uploads live in this process's memory (bounded): a restart forgets them and the client
must start again; their blobs are left to garbage collection, like any unreferenced blob.
``/config`` still reports ``pre_sign_support: false``, so clients use this flow only on request.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from aiohttp import hdrs, web

from gateway.admin import schemas
from gateway.admin.params import j_map, j_opt_str, q_required, read_json
from gateway.admin.routes_objects import CHUNK, PATH, PRESIGN
from gateway.admin.routing import RouteSpec, lake_of, on_branch, principal_of
from gateway.core.access import Action
from gateway.core.errors import InvalidArgument, NotFound, PreconditionFailed
from gateway.core.lake import Conditions
from gateway.core.model import BlobInfo, Entry

STAGING_TTL = 3600
MAX_PENDING = 10_000
ADDRESS_PREFIX = "weir://staging/"


class StagingNotFound(NotFound):
    """An upload token is unknown, expired, used, or for another path."""


@dataclass
class Pending:
    repo: str
    branch: str
    path: str
    user: str
    expires: float
    blob: BlobInfo | None = None


class StagingArea:
    """One-time upload tokens. Used from the event loop only (no locking needed)."""

    def __init__(self, ttl: float = STAGING_TTL, max_pending: int = MAX_PENDING) -> None:
        self._ttl = ttl
        self._max = max_pending
        self._pending: dict[str, Pending] = {}

    def _expire(self, now: float) -> None:
        for token in [t for t, p in self._pending.items() if p.expires <= now]:
            del self._pending[token]

    def issue(self, repo: str, branch: str, path: str, user: str) -> tuple[str, float]:
        now = time.time()
        self._expire(now)
        if len(self._pending) >= self._max:
            raise InvalidArgument("too many pending staged uploads; retry later")
        token = secrets.token_urlsafe(24)
        expires = now + self._ttl
        self._pending[token] = Pending(repo, branch, path, user, expires)
        return token, expires

    def get(self, token: str) -> Pending:
        pending = self._pending.get(token)
        if pending is None or pending.expires <= time.time():
            raise StagingNotFound("unknown or expired staging token")
        return pending

    def take(self, token: str, repo: str, branch: str, path: str) -> Pending:
        """Remove and return an uploaded token's record if it matches the path."""
        pending = self.get(token)
        if (pending.repo, pending.branch, pending.path) != (repo, branch, path):
            raise StagingNotFound("the staging token was issued for another path")
        if pending.blob is None:
            raise InvalidArgument("nothing was uploaded to this staging location")
        del self._pending[token]
        return pending


STAGING = web.AppKey("staging", StagingArea)


async def get_physical_address(request: web.Request) -> web.Response:
    repo, branch = request.match_info["repo"], request.match_info["branch"]
    path = q_required(request, "path")
    await lake_of(request).get_branch(repo, branch)  # 404 now rather than at link time
    token, expires = request.config_dict[STAGING].issue(
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
    area.get(token).blob = blob
    return web.Response(status=200, headers={hdrs.ETAG: f'"{blob.md5_hex}"'})


async def link_physical_address(request: web.Request) -> web.Response:
    repo, branch = request.match_info["repo"], request.match_info["branch"]
    path = q_required(request, "path")
    body = await read_json(request)
    staging = body.get("staging")
    address = staging.get("physical_address") if isinstance(staging, dict) else None
    if not isinstance(address, str) or not address.startswith(ADDRESS_PREFIX):
        raise InvalidArgument("staging.physical_address is not a Weir staging address")
    pending = request.config_dict[STAGING].take(address[len(ADDRESS_PREFIX) :], repo, branch, path)
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

"""A small synchronous client for Weir's admin API (lakeFS-compatible ``/api/v1``).

Only the standard library (``http.client``) is used, so the CLI adds no dependency. Object
bodies are streamed in both directions: uploads are sent from an iterator of chunks (with a
``Content-Length`` when the size is known, chunked transfer encoding otherwise) and downloads are
read chunk by chunk through :class:`Download`; neither holds a whole object in memory.

Every route the CLI uses is one method here, so adapting to the server's exact shapes touches
this module only. Concurrency: an :class:`AdminClient` opens one connection per request and keeps
no mutable state after construction, so it may be shared between threads.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
import ssl
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

CHUNK_SIZE = 1 << 20
MAX_PAGE = 1000
CONNECT_TIMEOUT = 10.0
DEFAULT_TIMEOUT = 600.0  # a reply may take long: a big commit or merge, a slow download

Json = Any  # a decoded JSON value; the server's shapes are documented in lakefs-api.md


class ApiError(Exception):
    """The server answered with a non-success status.

    Attributes:
        status: The HTTP status code.
        message: The server's ``message`` field, or a short description of the body.
        body: The decoded JSON body when there was one (a dict for lakeFS errors), else None.
    """

    def __init__(self, status: int, message: str, body: Json = None) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        self.message = message
        self.body = body


class ConnectionFailed(Exception):
    """The server could not be reached, or the connection broke mid-request."""


def normalize_endpoint(endpoint: str) -> str:
    """Return the API base URL for a user-given endpoint, as lakeFS clients do.

    ``host:port`` gains ``http://``; an endpoint without a path gains ``/api/v1``.

    Raises:
        ValueError: The endpoint is not an http(s) URL.
    """
    endpoint = endpoint.strip()
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"invalid endpoint {endpoint!r}: expected http(s)://HOST[:PORT]")
    try:
        parts.port  # noqa: B018 - validates the port number
    except ValueError as exc:
        raise ValueError(f"invalid endpoint {endpoint!r}: {exc}") from None
    path = parts.path.rstrip("/") or "/api/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


def _seg(value: str) -> str:
    """Percent-encode one path parameter (``main@`` becomes ``main%40``, ``/`` is encoded)."""
    return quote(value, safe="")


def _path(template: str, *values: str) -> str:
    """``_path("/repositories/{}/tags/{}", repo, tag)`` with each value percent-encoded."""
    return template.format(*(_seg(v) for v in values))


def _results(body: Json) -> list[Json]:
    """The items of a list response: ``{"results": [...]}`` or a bare JSON array."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        return list(body["results"])
    return []


def _error_message(status: int, reason: str, raw: bytes) -> tuple[str, Json]:
    body: Json = None
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        message = body["message"]
    elif raw and body is None:
        message = raw[:200].decode("utf-8", "replace").strip() or reason
    else:
        message = reason or f"HTTP {status}"
    return " ".join(message.split()), body


class Download:
    """A streaming object body. Use as a context manager; it closes its connection on exit.

    Attributes:
        size: The object size from ``Content-Length``, or None when the server did not say.
        etag: The object's ETag without quotes ("" when absent).
        content_type: The ``Content-Type`` header.
    """

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self._conn = conn
        self._resp = resp
        length = resp.getheader("Content-Length")
        self.size: int | None = int(length) if length and length.isdigit() else None
        self.etag = (resp.getheader("ETag") or "").strip('"')
        self.content_type = resp.getheader("Content-Type") or ""

    def chunks(self, size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the body in chunks of at most ``size`` bytes.

        Raises:
            ConnectionFailed: The connection broke or the body ended early.
        """
        try:
            while True:
                chunk = self._resp.read(size)
                if not chunk:
                    return
                yield chunk
        except (OSError, http.client.HTTPException) as exc:
            raise ConnectionFailed(f"connection lost while downloading: {_describe(exc)}") from exc

    def close(self) -> None:
        self._resp.close()
        self._conn.close()

    def __enter__(self) -> Download:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "server closed the connection"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)


class AdminClient:
    """Calls Weir's admin API with HTTP Basic auth (the same access keys as S3).

    Args:
        endpoint: Base URL; normalised with :func:`normalize_endpoint`.
        access_key_id: The access key id ("" sends no Authorization header).
        secret_access_key: The secret for ``access_key_id``.
        timeout: Seconds to wait for each read or write once connected (connecting itself is
            bounded by ``CONNECT_TIMEOUT``, so an unreachable host fails fast).
    """

    def __init__(
        self,
        endpoint: str,
        access_key_id: str,
        secret_access_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.endpoint = normalize_endpoint(endpoint)
        parts = urlsplit(self.endpoint)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._base = parts.path
        self._timeout = timeout
        self._auth = ""
        if access_key_id:
            token = f"{access_key_id}:{secret_access_key}".encode()
            self._auth = "Basic " + base64.b64encode(token).decode("ascii")

    # -- transport ----------------------------------------------------------------------------

    def _open(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        chunked: bool = False,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        url = self._base + path
        if query:
            pairs = {k: v for k, v in query.items() if v is not None and v != ""}
            if pairs:
                url += "?" + urlencode(pairs, doseq=True)
        hdrs = {"Accept": "application/json", "User-Agent": "weir-cli"}
        if self._auth:
            hdrs["Authorization"] = self._auth
        hdrs.update(headers or {})
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=CONNECT_TIMEOUT, blocksize=CHUNK_SIZE)
        try:
            # The server may answer (401, 404, 413) and close before reading a large body; its
            # response is still in the socket buffer, so read it instead of reporting the EPIPE.
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(self._timeout)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                conn.request(method, url, body=body, headers=hdrs, encode_chunked=chunked)
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ConnectionFailed(f"cannot connect to {self.endpoint}: {_describe(exc)}") from exc

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        json_body: Json = None,
        body: Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Json, http.client.HTTPResponse]:
        """One request with a JSON body, a streamed ``body`` or none; returns the decoded reply
        and the response. A streamed body without ``Content-Length`` is sent chunked.

        Raises:
            ApiError: The status is not 2xx.
            ConnectionFailed: The server could not be reached.
        """
        hdrs = dict(headers or {})
        data: bytes | Iterable[bytes] | None = body
        if json_body is not None:
            data = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        chunked = body is not None and "Content-Length" not in hdrs
        if chunked:
            hdrs["Transfer-Encoding"] = "chunked"
        conn, resp = self._open(method, path, query=query, body=data, headers=hdrs, chunked=chunked)
        try:
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise ConnectionFailed(f"connection lost reading the reply: {_describe(exc)}") from exc
        finally:
            conn.close()
        return self._decode(resp, raw), resp

    def _decode(self, resp: http.client.HTTPResponse, raw: bytes) -> Json:
        if not 200 <= resp.status < 300:
            message, body = _error_message(resp.status, resp.reason, raw)
            raise ApiError(resp.status, message, body)
        if not raw:
            return None
        if "json" in (resp.getheader("Content-Type") or ""):
            try:
                return json.loads(raw)
            except ValueError as exc:
                raise ApiError(resp.status, "server sent invalid JSON") from exc
        return raw.decode("utf-8", "replace")

    def request(self, method: str, path: str, **kwargs: Any) -> Json:
        """Send one JSON request to ``path`` (relative to the API base) and decode the reply."""
        return self._call(method, path, **kwargs)[0]

    def paginate(
        self, path: str, query: Mapping[str, Any] | None = None, *, limit: int | None = None
    ) -> Iterator[Json]:
        """Yield every item of a paginated list, following ``next_offset`` (``after`` is exclusive).

        Stops after ``limit`` items when given, and if the server repeats an offset.
        """
        params = dict(query or {})
        after = ""
        count = 0
        while True:
            amount = MAX_PAGE if limit is None else max(1, min(MAX_PAGE, limit - count))
            body = self.request("GET", path, query={**params, "after": after, "amount": amount})
            for item in _results(body):
                yield item
                count += 1
                if limit is not None and count >= limit:
                    return
            page = body.get("pagination", {}) if isinstance(body, dict) else {}
            nxt = page.get("next_offset") or ""
            if not page.get("has_more") or not nxt or nxt == after:
                return
            after = nxt

    # -- server -------------------------------------------------------------------------------

    def get_config(self) -> Json:
        """``GET /config`` (authenticated): version and storage flags; used to verify a login."""
        return self.request("GET", "/config")

    # -- repositories -------------------------------------------------------------------------

    def create_repository(self, name: str, storage_namespace: str, default_branch: str) -> Json:
        body = {"name": name, "storage_namespace": storage_namespace}
        return self.request(
            "POST", "/repositories", json_body={**body, "default_branch": default_branch}
        )

    def list_repositories(self, prefix: str = "", limit: int | None = None) -> Iterator[Json]:
        return self.paginate("/repositories", {"prefix": prefix}, limit=limit)

    def get_repository(self, repo: str) -> Json:
        return self.request("GET", _path("/repositories/{}", repo))

    def delete_repository(self, repo: str) -> None:
        self.request("DELETE", _path("/repositories/{}", repo))

    # -- branches and tags --------------------------------------------------------------------

    def create_branch(self, repo: str, name: str, source: str) -> str:
        """Create a branch; returns the commit id it points at (lakeFS answers in plain text)."""
        body = {"name": name, "source": source}
        text = self.request("POST", _path("/repositories/{}/branches", repo), json_body=body)
        return text.strip().strip('"') if isinstance(text, str) else str(text or "")

    def list_branches(self, repo: str, prefix: str = "") -> Iterator[Json]:
        return self.paginate(_path("/repositories/{}/branches", repo), {"prefix": prefix})

    def delete_branch(self, repo: str, branch: str) -> None:
        self.request("DELETE", _path("/repositories/{}/branches/{}", repo, branch))

    def reset_branch(self, repo: str, branch: str, kind: str = "reset", path: str = "") -> None:
        """Drop staged changes: ``kind`` is ``reset`` (all), ``object`` or ``common_prefix``."""
        body = {"type": kind, "path": path} if path else {"type": kind}
        self.request("PUT", _path("/repositories/{}/branches/{}", repo, branch), json_body=body)

    def hard_reset(self, repo: str, branch: str, ref: str) -> None:
        """Point ``branch`` at ``ref``'s commit, dropping its staged changes."""
        path = _path("/repositories/{}/branches/{}/hard_reset", repo, branch)
        self.request("PUT", path, query={"ref": ref})

    def get_branch_protection(self, repo: str) -> tuple[list[str], str]:
        """The protected-branch glob patterns and the ETag (if any) to send back with a change."""
        path = _path("/repositories/{}/settings/branch_protection", repo)
        body, resp = self._call("GET", path)
        rules = [r["pattern"] if isinstance(r, dict) else str(r) for r in _results(body)]
        return rules, resp.getheader("ETag") or ""

    def set_branch_protection(self, repo: str, patterns: Sequence[str], etag: str = "") -> None:
        """Replace the rules; with ``etag`` the server refuses (412) if they changed meanwhile."""
        rules = [{"pattern": p} for p in patterns]
        path = _path("/repositories/{}/settings/branch_protection", repo)
        self.request("PUT", path, json_body=rules, headers={"If-Match": etag} if etag else None)

    def create_tag(self, repo: str, tag: str, ref: str) -> Json:
        body = {"id": tag, "ref": ref}
        return self.request("POST", _path("/repositories/{}/tags", repo), json_body=body)

    def list_tags(self, repo: str, prefix: str = "") -> Iterator[Json]:
        return self.paginate(_path("/repositories/{}/tags", repo), {"prefix": prefix})

    def delete_tag(self, repo: str, tag: str) -> None:
        self.request("DELETE", _path("/repositories/{}/tags/{}", repo, tag))

    # -- history ------------------------------------------------------------------------------

    def commit(
        self,
        repo: str,
        branch: str,
        message: str,
        metadata: Mapping[str, str] | None = None,
        paths: Sequence[str] = (),
        allow_empty: bool = False,
        inputs: Sequence[str | Mapping[str, str]] = (),
    ) -> Json:
        """Commit staged changes; with ``paths`` (Weir) only those paths and prefixes/; with
        ``inputs`` (Weir, lineage) ``"REPO@REF[:PATH]"`` strings or objects."""
        body: dict[str, Any] = {"message": message, "metadata": dict(metadata or {})}
        if paths:
            body["paths"] = list(paths)
        if inputs:
            body["inputs"] = list(inputs)
        if allow_empty:
            body["allow_empty"] = True
        path = _path("/repositories/{}/branches/{}/commits", repo, branch)
        return self.request("POST", path, json_body=body)

    def get_commit(self, repo: str, ref: str) -> Json:
        """The commit any ref expression (branch, tag, id prefix, ``main~1``) resolves to."""
        return self.request("GET", _path("/repositories/{}/commits/{}", repo, ref))

    def log(
        self,
        repo: str,
        ref: str,
        *,
        objects: Sequence[str] = (),
        prefixes: Sequence[str] = (),
        first_parent: bool = False,
        limit: int | None = None,
    ) -> Iterator[Json]:
        query: dict[str, Any] = {"objects": list(objects), "prefixes": list(prefixes)}
        if first_parent:
            query["first_parent"] = "true"
        path = _path("/repositories/{}/refs/{}/commits", repo, ref)
        return self.paginate(path, query, limit=limit)

    def path_history(
        self,
        repo: str,
        ref: str,
        path: str,
        *,
        first_parent: bool = False,
        limit: int | None = None,
    ) -> Iterator[Json]:
        """The commits that changed ``path`` (Weir), newest first: ``{commit, deleted, object}``."""
        query = {"path": path, "first_parent": "true" if first_parent else None}
        return self.paginate(
            _path("/repositories/{}/refs/{}/history", repo, ref), query, limit=limit
        )

    def blame(
        self, repo: str, ref: str, path: str, *, prefix: bool = False, limit: int | None = None
    ) -> Iterator[Json]:
        """Per object, the commit that wrote it (Weir): ``{path, commit, object}``. With
        ``prefix`` every object under ``path``."""
        query = {"path": path, "recursive": "true" if prefix else None}
        url = _path("/repositories/{}/refs/{}/blame", repo, ref)
        return self.paginate(url, query, limit=limit)

    def lineage(
        self,
        repo: str,
        ref: str,
        path: str = "",
        *,
        downstream: bool = False,
        depth: int | None = None,
        fmt: str = "json",
    ) -> Json:
        """The lineage graph (Weir): JSON, or with ``fmt`` tree/dot/mermaid its drawing."""
        query = {
            "path": path,
            "direction": "downstream" if downstream else None,
            "depth": depth,
            "format": None if fmt == "json" else fmt,
        }
        return self.request(
            "GET", _path("/repositories/{}/refs/{}/lineage", repo, ref), query=query
        )

    def diff_refs(
        self, repo: str, left: str, right: str, *, two_dot: bool = False, prefix: str = ""
    ) -> Iterator[Json]:
        query = {"type": "two_dot" if two_dot else "three_dot", "prefix": prefix}
        return self.paginate(_path("/repositories/{}/refs/{}/diff/{}", repo, left, right), query)

    def diff_uncommitted(self, repo: str, branch: str, prefix: str = "") -> Iterator[Json]:
        path = _path("/repositories/{}/branches/{}/diff", repo, branch)
        return self.paginate(path, {"prefix": prefix})

    def merge(
        self,
        repo: str,
        source: str,
        dest: str,
        *,
        message: str = "",
        metadata: Mapping[str, str] | None = None,
        strategy: str = "",
        resolutions: Sequence[tuple[str, str]] = (),
        inputs: Sequence[str | Mapping[str, str]] = (),
    ) -> Json:
        """Merge ``source`` into branch ``dest``; a conflict raises ApiError(409) whose ``body``
        carries ``conflicts``. ``resolutions`` are (glob, "source"|"dest") pairs."""
        body: dict[str, Any] = {"message": message, "metadata": dict(metadata or {})}
        if strategy:
            body["strategy"] = strategy
        if resolutions:
            body["resolutions"] = [{"pattern": p, "side": s} for p, s in resolutions]
        if inputs:
            body["inputs"] = list(inputs)
        path = _path("/repositories/{}/refs/{}/merge/{}", repo, source, dest)
        return self.request("POST", path, json_body=body)

    def revert(self, repo: str, branch: str, ref: str, parent_number: int = 0) -> None:
        body = {"ref": ref, "parent_number": parent_number, "allow_empty": False}
        path = _path("/repositories/{}/branches/{}/revert", repo, branch)
        self.request("POST", path, json_body=body)

    def cherry_pick(self, repo: str, branch: str, ref: str, parent_number: int = 0) -> Json:
        body = {"ref": ref, "parent_number": parent_number}
        path = _path("/repositories/{}/branches/{}/cherry-pick", repo, branch)
        return self.request("POST", path, json_body=body)

    # -- objects ------------------------------------------------------------------------------

    def list_objects(
        self, repo: str, ref: str, prefix: str = "", delimiter: str = "/", limit: int | None = None
    ) -> Iterator[Json]:
        """Objects (and, with a delimiter, common prefixes); ``delimiter=""`` is recursive."""
        path = _path("/repositories/{}/refs/{}/objects/ls", repo, ref)
        return self.paginate(path, {"prefix": prefix, "delimiter": delimiter or None}, limit=limit)

    def open_object(self, repo: str, ref: str, path: str) -> Download:
        """Start downloading an object; the caller streams it with ``Download.chunks()``.

        Raises:
            ApiError: The object or ref does not exist, or access is refused.
        """
        url = _path("/repositories/{}/refs/{}/objects", repo, ref)
        conn, resp = self._open("GET", url, query={"path": path, "presign": "false"})
        if not 200 <= resp.status < 300:
            try:
                raw = resp.read()
            except (OSError, http.client.HTTPException):
                raw = b""
            finally:
                conn.close()
            message, body = _error_message(resp.status, resp.reason, raw)
            raise ApiError(resp.status, message, body)
        return Download(conn, resp)

    def upload_object(
        self,
        repo: str,
        branch: str,
        path: str,
        chunks: Iterable[bytes],
        *,
        size: int | None = None,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        if_absent: bool = False,
    ) -> Json:
        """Stream ``chunks`` as the object's body (raw, not multipart) and return its stats.

        With ``size`` the body is sent with ``Content-Length`` and must be exactly that long;
        without, it is sent with chunked transfer encoding. With ``if_absent`` an existing
        object makes the server answer 412 instead of overwriting it.
        """
        headers = {"Content-Type": content_type or "application/octet-stream"}
        headers.update({f"x-lakefs-meta-{k}": v for k, v in (metadata or {}).items()})
        if if_absent:
            headers["If-None-Match"] = "*"
        if size is not None:
            headers["Content-Length"] = str(size)
        url = _path("/repositories/{}/branches/{}/objects", repo, branch)
        return self.request("POST", url, query={"path": path}, body=iter(chunks), headers=headers)

    def delete_object(self, repo: str, branch: str, path: str) -> None:
        url = _path("/repositories/{}/branches/{}/objects", repo, branch)
        self.request("DELETE", url, query={"path": path})

    # -- audit trail (Weir) ----------------------------------------------------------------

    def audit(
        self,
        *,
        repository: str = "",
        user: str = "",
        since: str = "",
        until: str = "",
        limit: int | None = None,
    ) -> Iterator[Json]:
        """Audit records, newest first (admins; ``since``/``until`` are RFC 3339)."""
        query = {"repository": repository, "user": user, "since": since, "until": until}
        return self.paginate("/audit", query, limit=limit)

    def audit_verify(self) -> Json:
        """Check the audit trail's hash chain: ``{ok, records, head, broken_at, reason}``."""
        return self.request("GET", "/audit/verify")

    # -- users, keys and grants (Weir extensions under /auth) ----------------------------------

    def list_users(self) -> Iterator[Json]:
        return self.paginate("/auth/users")

    def create_user(self, name: str, admin: bool = False) -> Json:
        body = {"id": name, "admin": True} if admin else {"id": name}
        return self.request("POST", "/auth/users", json_body=body)

    def delete_user(self, name: str) -> None:
        self.request("DELETE", _path("/auth/users/{}", name))

    def create_key(self, user: str) -> Json:
        """A new access key pair; the secret is returned this once only."""
        return self.request("POST", _path("/auth/users/{}/credentials", user))

    def list_keys(self, user: str) -> Iterator[Json]:
        """The user's access key ids (secrets are never listed)."""
        return self.paginate(_path("/auth/users/{}/credentials", user))

    def revoke_key(self, user: str, access_key_id: str) -> None:
        self.request("DELETE", _path("/auth/users/{}/credentials/{}", user, access_key_id))

    def list_grants(self, user: str) -> list[Json]:
        return _results(self.request("GET", _path("/auth/users/{}/grants", user)))

    def add_grant(self, user: str, repository: str, branch: str, action: str) -> Json:
        body = {"repository": repository, "branch": branch, "action": action}
        return self.request("POST", _path("/auth/users/{}/grants", user), json_body=body)

    def remove_grant(self, user: str, grant_id: str) -> None:
        """Remove one grant by its id (see :meth:`find_grant` to look one up by its fields)."""
        self.request("DELETE", _path("/auth/users/{}/grants/{}", user, grant_id))

    def find_grant(self, user: str, repository: str, branch: str, action: str) -> Json:
        """The grant of ``user`` with exactly these fields, or None."""
        for grant in self.list_grants(user):
            fields = (grant.get("repository"), grant.get("branch"), grant.get("action"))
            if fields == (repository, branch, action):
                return grant
        return None

    # -- garbage collection -------------------------------------------------------------------

    def start_gc(
        self, repository: str = "", dry_run: bool = False, grace_seconds: int | None = None
    ) -> Json:
        """Start a collection; returns its run (``id``, ``state``, progress counters)."""
        body: dict[str, Any] = {"dry_run": dry_run}
        if repository:
            body["repository"] = repository
        if grace_seconds is not None:
            body["grace_seconds"] = grace_seconds
        return self.request("POST", "/gc", json_body=body)

    def get_gc_run(self, run_id: str) -> Json:
        return self.request("GET", _path("/gc/runs/{}", run_id))

    def list_gc_runs(self, amount: int = 20) -> list[Json]:
        return _results(self.request("GET", "/gc/runs", query={"amount": amount}))

    def cancel_gc_run(self, run_id: str) -> Json:
        return self.request("DELETE", _path("/gc/runs/{}", run_id))

    def get_gc_rules(self, repo: str) -> Json:
        """The repository's retention rules, or None when it has none (server default)."""
        try:
            return self.request("GET", _path("/repositories/{}/settings/gc_rules", repo))
        except ApiError as exc:
            if exc.status == 404 and "no garbage collection rules" in exc.message:
                return None
            raise

    def set_gc_rules(self, repo: str, rules: Json) -> None:
        self.request("PUT", _path("/repositories/{}/settings/gc_rules", repo), json_body=rules)

    def delete_gc_rules(self, repo: str) -> None:
        self.request("DELETE", _path("/repositories/{}/settings/gc_rules", repo))

"""Browser sessions on the real server: the cookie's flags, CSRF on every mutating call,
sign-out, revocation, grants, and sessions kept in the metadata store (they survive a restart).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
import urllib3

from tests.functional.admin_conftest import ServerAdmin
from tests.functional.conftest import WeirServer, run_weir

HTTP = urllib3.PoolManager()


@dataclass
class Answer:
    status: int
    headers: Any
    body: Any


def call(
    server: WeirServer,
    method: str,
    route: str,
    *,
    cookie: str | None = None,
    csrf: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    h = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    if cookie is not None:
        h["Cookie"] = f"weir_session={cookie}"
    if csrf is not None:
        h["X-CSRF-Token"] = csrf
    resp = HTTP.request(method, server.endpoint + "/api/v1" + route, body=data, headers=h)
    parsed: Any = resp.data
    if resp.headers.get("Content-Type", "").startswith("application/json"):
        parsed = json.loads(resp.data)
    return Answer(resp.status, resp.headers, parsed)


@dataclass
class Session:
    cookie: str
    csrf: str
    set_cookie: str
    body: dict[str, Any]


def sign_in(server: WeirServer, key: str, secret: str, **headers: str) -> Session:
    answer = call(
        server,
        "POST",
        "/auth/session",
        body={"access_key_id": key, "secret_access_key": secret},
        headers=headers,
    )
    assert answer.status == 201, answer.body
    raw = answer.headers["Set-Cookie"]
    morsel = SimpleCookie(raw)["weir_session"]
    return Session(morsel.value, answer.body["csrf_token"], raw, answer.body)


@pytest.fixture(scope="module")
def admin_session(weir_server: WeirServer) -> Session:
    return sign_in(weir_server, weir_server.access_key, weir_server.secret_key)


def test_sign_in_sets_an_httponly_strict_cookie_scoped_to_the_api(weir_server: WeirServer) -> None:
    s = sign_in(weir_server, weir_server.access_key, weir_server.secret_key)
    flags = [part.strip().lower() for part in s.set_cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/api/v1" in flags
    assert "secure" not in flags  # plain HTTP: a Secure cookie would never come back
    assert s.body["user"] == {
        "id": "admin",
        "creation_date": s.body["user"]["creation_date"],
        "admin": True,
    }
    assert s.body["access_key_id"] == weir_server.access_key
    assert s.cookie not in json.dumps(s.body)  # the page's script never sees the token
    assert len(s.cookie) >= 40 and len(s.csrf) >= 40 and s.cookie != s.csrf


def test_cookie_is_secure_when_the_request_came_over_tls(weir_server: WeirServer) -> None:
    s = sign_in(
        weir_server,
        weir_server.access_key,
        weir_server.secret_key,
        **{"X-Forwarded-Proto": "https"},
    )
    assert "secure" in [part.strip().lower() for part in s.set_cookie.split(";")]


def test_every_mutating_call_needs_the_csrf_token(
    weir_server: WeirServer, admin_session: Session
) -> None:
    s = admin_session
    name = f"ui-{uuid.uuid4().hex[:10]}"
    create = {"name": name, "storage_namespace": ""}
    assert call(weir_server, "GET", "/repositories", cookie=s.cookie).status == 200
    for csrf in (None, "", "wrong-" + s.csrf[6:], s.csrf + "x"):
        refused = call(
            weir_server, "POST", "/repositories", cookie=s.cookie, csrf=csrf, body=create
        )
        assert refused.status == 403, refused.body
        assert "CSRF" in refused.body["message"]
    assert call(weir_server, "GET", f"/repositories/{name}", cookie=s.cookie).status == 404
    ok = call(weir_server, "POST", "/repositories", cookie=s.cookie, csrf=s.csrf, body=create)
    assert ok.status == 201, ok.body
    for method, route, body in (
        ("PUT", f"/repositories/{name}/settings/branch_protection", [{"pattern": "main"}]),
        ("DELETE", f"/repositories/{name}", None),
    ):
        assert call(weir_server, method, route, cookie=s.cookie, body=body).status == 403
        assert call(weir_server, method, route, cookie=s.cookie, csrf=s.csrf, body=body).status in (
            204,
            200,
        )
    # HTTP Basic clients (SDKs, the CLI) are not asked for a token: nothing ambient there.
    basic = ServerAdmin(weir_server)
    basic.call("POST", "/repositories", 201, body=create)
    basic.call("DELETE", f"/repositories/{name}", 204)


def test_sign_out_ends_the_session_everywhere(weir_server: WeirServer) -> None:
    s = sign_in(weir_server, weir_server.access_key, weir_server.secret_key)
    assert call(weir_server, "DELETE", "/auth/session", cookie=s.cookie).status == 403  # no CSRF
    assert call(weir_server, "GET", "/auth/session", cookie=s.cookie).status == 200
    out = call(weir_server, "DELETE", "/auth/session", cookie=s.cookie, csrf=s.csrf)
    assert out.status == 204
    cleared = SimpleCookie(out.headers["Set-Cookie"])["weir_session"]
    assert cleared.value == "" and cleared["max-age"] == "0"
    # The old cookie, replayed, is refused on every route.
    for route in ("/auth/session", "/repositories", "/user"):
        gone = call(weir_server, "GET", route, cookie=s.cookie, headers={"X-Requested-With": "x"})
        assert gone.status == 401
        assert "signed out" in gone.body["message"]


def test_session_reports_itself_with_its_csrf_token(
    weir_server: WeirServer, admin_session: Session
) -> None:
    me = call(weir_server, "GET", "/auth/session", cookie=admin_session.cookie)
    assert me.status == 200
    assert me.body["csrf_token"] == admin_session.csrf
    assert me.body["expires"] - me.body["created"] == 12 * 3600
    # With HTTP Basic there is no session to describe.
    basic = ServerAdmin(weir_server)
    assert (
        b"not signed in with a session"
        in basic.call("GET", "/auth/session", 400).get("message", "").encode()
    )


def test_a_session_can_do_exactly_what_its_key_can(weir_server: WeirServer) -> None:
    admin = ServerAdmin(weir_server)
    repo = f"ui-{uuid.uuid4().hex[:10]}"
    admin.call("POST", "/repositories", 201, body={"name": repo, "storage_namespace": ""})
    user = f"reader-{uuid.uuid4().hex[:8]}"
    admin.call("POST", "/auth/users", 201, body={"id": user})
    key = admin.call("POST", f"/auth/users/{user}/credentials", 201)
    admin.call(
        "POST", f"/auth/users/{user}/grants", 201, body={"repository": repo, "action": "read"}
    )
    s = sign_in(weir_server, key["access_key_id"], key["secret_access_key"])
    assert s.body["user"]["admin"] is False
    assert call(weir_server, "GET", f"/repositories/{repo}/branches", cookie=s.cookie).status == 200
    refused = call(
        weir_server,
        "POST",
        f"/repositories/{repo}/branches",
        cookie=s.cookie,
        csrf=s.csrf,
        body={"name": "b1", "source": "main"},
    )
    assert refused.status == 403
    assert user in refused.body["message"]
    # Revoking the key ends the session at once.
    admin.call("DELETE", f"/auth/users/{user}/credentials/{key['access_key_id']}", 204)
    revoked = call(weir_server, "GET", f"/repositories/{repo}/branches", cookie=s.cookie)
    assert revoked.status == 401
    assert "revoked" in revoked.body["message"]


def test_sign_in_refuses_a_wrong_pair_and_anything_but_json(weir_server: WeirServer) -> None:
    wrong = call(
        weir_server,
        "POST",
        "/auth/session",
        body={"access_key_id": weir_server.access_key, "secret_access_key": "nope"},
    )
    assert wrong.status == 401 and "Set-Cookie" not in wrong.headers
    form = HTTP.request(
        "POST",
        weir_server.endpoint + "/api/v1/auth/session",
        body=f"access_key_id={weir_server.access_key}&secret_access_key={weir_server.secret_key}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status == 400 and "Set-Cookie" not in form.headers
    assert b"JSON" in form.data


def test_the_ui_gets_no_basic_challenge(weir_server: WeirServer) -> None:
    """A Basic challenge would make the browser pop up its own password dialog."""
    plain = call(weir_server, "GET", "/repositories")
    assert plain.status == 401 and plain.headers.get("WWW-Authenticate") == 'Basic realm="weir"'
    ui = call(weir_server, "GET", "/repositories", headers={"X-Requested-With": "weir-ui"})
    assert ui.status == 401 and "WWW-Authenticate" not in ui.headers
    stale = call(weir_server, "GET", "/repositories", cookie="no-such-session")
    assert stale.status == 401 and "WWW-Authenticate" not in stale.headers


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("sessions")


def test_sessions_live_in_the_metadata_store(own_server: Path) -> None:
    """A session opened by one server process is honoured by the next one on the same store
    (and so by every worker and gateway sharing it), and signing out there ends it."""
    with run_weir(own_server / "data", own_server / "first.log") as first:
        s = sign_in(first, first.access_key, first.secret_key)
    with run_weir(own_server / "data", own_server / "second.log", ["--workers", "2"]) as second:
        me = call(second, "GET", "/auth/session", cookie=s.cookie)
        assert me.status == 200 and me.body["csrf_token"] == s.csrf
        assert call(second, "DELETE", "/auth/session", cookie=s.cookie, csrf=s.csrf).status == 204
        for _ in range(8):  # whichever worker answers
            assert call(second, "GET", "/auth/session", cookie=s.cookie).status == 401

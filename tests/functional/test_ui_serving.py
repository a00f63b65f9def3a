"""The web UI's files on the real server: every asset ships in the package, pages of the
single-page app all get index.html, headers keep the origin safe, and only a browser's page
load of ``/`` is sent to the UI (S3 clients keep ``GET /`` = ListBuckets)."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import urllib3

from gateway.ui.app import STATIC_DIR
from tests.functional.conftest import WeirServer

HTTP = urllib3.PoolManager(retries=False)
BROWSER = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Sec-Fetch-Mode": "navigate",
    "User-Agent": "Mozilla/5.0",
}


def get(server: WeirServer, path: str, **headers: str) -> Any:
    return HTTP.request("GET", server.endpoint + path, headers=headers, redirect=False)


def test_pages_are_the_app_with_a_strict_policy(weir_server: WeirServer) -> None:
    for path in ("/ui/", "/ui/repositories/x/objects?ref=main&path=a/b", "/ui/admin/users"):
        page = get(weir_server, path)
        assert page.status == 200, path
        assert page.headers["Content-Type"].startswith("text/html")
        assert b'<script type="module" src="/ui/static/js/main.js">' in page.data
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert get(weir_server, "/ui").headers["Location"] == "/ui/"


def test_assets_revalidate_by_etag(weir_server: WeirServer) -> None:
    js = get(weir_server, "/ui/static/js/main.js")
    assert js.status == 200 and js.headers["Content-Type"].startswith("text/javascript")
    assert js.headers["Cache-Control"] == "no-cache"
    again = get(weir_server, "/ui/static/js/main.js", **{"If-None-Match": js.headers["ETag"]})
    assert again.status == 304 and again.data == b""
    assert get(weir_server, "/ui/static/js/nope.js").status == 404
    assert get(weir_server, "/ui/static/%2e%2e/%2e%2e/server.py").status == 404


def _imports(path: Path) -> list[str]:
    statements = (
        r"""^\s*(?:import|export)\b[^;]*?\bfrom\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]"""
    )
    return [a or b for a, b in re.findall(statements, path.read_text(), re.M)]


def test_every_module_the_app_imports_ships_and_is_served(weir_server: WeirServer) -> None:
    """No CDN, no build step: each import resolves to a file in the package, served here."""
    seen: set[Path] = set()
    todo = [STATIC_DIR / "js" / "main.js"]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for spec in _imports(module):
            assert spec.startswith("."), f"{module.name} imports {spec!r} from outside the package"
            target = (module.parent / spec).resolve()
            assert target.is_file(), f"{module.name} imports missing {spec}"
            todo.append(target)
    assert len(seen) > 10
    for module in seen:
        rel = module.relative_to(STATIC_DIR).as_posix()
        served = get(weir_server, f"/ui/static/{rel}")
        assert served.status == 200 and served.data == module.read_bytes(), rel
    for text in (
        p.read_text() for p in STATIC_DIR.rglob("*") if p.suffix in (".js", ".css", ".html")
    ):
        assert not re.search(
            r"https?://(?!example\.org)", text.replace("http://www.w3.org/2000/svg", "")
        )


def test_a_browser_opening_the_server_lands_on_the_ui(weir_server: WeirServer) -> None:
    landing = get(weir_server, "/", **BROWSER)
    assert landing.status == 302 and landing.headers["Location"] == "/ui/"


def test_s3_requests_to_the_root_stay_s3(weir_server: WeirServer, s3: Any) -> None:
    assert "Buckets" in s3.list_buckets()  # SigV4-signed GET /
    anonymous = get(weir_server, "/")  # no browser markers: S3's AccessDenied, not a redirect
    assert anonymous.status == 403 and b"<Code>AccessDenied</Code>" in anonymous.data
    signed_looking = get(weir_server, "/", Authorization="AWS4-HMAC-SHA256 Credential=x", **BROWSER)
    assert signed_looking.status != 302 and b"<Error>" in signed_looking.data
    presigned = get(weir_server, "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x", **BROWSER)
    assert presigned.status != 302 and b"<Error>" in presigned.data
    amz = get(weir_server, "/", **{**BROWSER, "x-amz-date": "20260101T000000Z"})
    assert amz.status == 403
    head = HTTP.request("HEAD", weir_server.endpoint + "/", headers=BROWSER, redirect=False)
    assert head.status != 302


def test_objects_opened_in_a_browser_cannot_script_this_origin(
    weir_server: WeirServer, s3: Any, bucket: str
) -> None:
    """An uploaded HTML page, opened through a presigned URL or the API, runs sandboxed."""
    s3.put_object(
        Bucket=bucket, Key="main/evil.html", Body=b"<script>1</script>", ContentType="text/html"
    )
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "main/evil.html"}
    )
    token = base64.b64encode(f"{weir_server.access_key}:{weir_server.secret_key}".encode()).decode()
    api = HTTP.request(
        "GET",
        f"{weir_server.endpoint}/api/v1/repositories/{bucket}/refs/main/objects?path=evil.html",
        headers={"Authorization": f"Basic {token}"},
    )
    for answer in (HTTP.request("GET", url), api):
        assert answer.status == 200 and answer.data == b"<script>1</script>"
        assert answer.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" not in get(weir_server, "/ui/").headers["Content-Security-Policy"]

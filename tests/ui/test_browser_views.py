"""Views in a real browser: a Parquet preview at an old commit, history and shareable URLs,
back and forward, paging, visible focus, grants refused in plain words, and signing out."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, expect

from gateway.client.api import AdminClient
from tests.functional.conftest import WeirServer
from tests.ui.conftest import ready, sign_in, unique
from tests.ui.demo import parquet_bytes, put


def test_parquet_preview_at_an_old_commit(admin_page: Page, admin_client: AdminClient) -> None:
    page = admin_page
    repo = unique("pq")
    admin_client.create_repository(repo, "", "main")
    put(admin_client, repo, "main", "data/train.parquet", parquet_bytes(1000, version=1))
    admin_client.commit(repo, "main", "Version one")
    put(admin_client, repo, "main", "data/train.parquet", parquet_bytes(10, version=7))
    admin_client.commit(repo, "main", "Version two")

    page.goto(f"/ui/repositories/{repo}/commits")
    page.get_by_role("link", name="Version one").click()
    page.get_by_role("link", name="Browse files at this commit").click()
    page.get_by_role("link", name="data/", exact=True).click()
    page.get_by_role("link", name="train.parquet", exact=True).click()
    expect(page.locator(".preview-summary")).to_contain_text("1,000 rows")
    schema = page.get_by_role("table", name="Schema")
    expect(schema.get_by_role("row").filter(has_text="impression_id")).to_contain_text("int64")
    expect(schema.get_by_role("row").filter(has_text="clicked")).to_contain_text("bool")
    rows = page.get_by_role("table", name="First rows")
    expect(rows.get_by_role("row").nth(2)).to_contain_text("0.37")  # row 1: score 37/100 * v1
    # The URL names the commit: shared, it opens the same version.
    url = page.url
    assert re.search(r"ref=[0-9a-f]{64}", url) and "path=data%2Ftrain.parquet" in url
    other = page.context.new_page()
    other.goto(url)
    expect(other.locator(".preview-summary")).to_contain_text("1,000 rows")
    other.close()
    # At the branch head it is the new version.
    page.goto(f"/ui/repositories/{repo}/objects?ref=main&path=data/train.parquet")
    expect(page.locator(".preview-summary")).to_contain_text("10 rows")
    # Its history lists both commits.
    page.get_by_role("link", name="History").click()
    history = page.get_by_role("table", name="Commits that changed this path")
    expect(history.get_by_role("row")).to_have_count(3)
    expect(history.get_by_role("row").nth(2)).to_contain_text("Version one")
    # Blame of the directory: the commit behind each object.
    page.goto(f"/ui/repositories/{repo}/objects?ref=main&path=data/")
    page.get_by_role("link", name="Blame").click()
    blame = page.get_by_role("table", name="Blame")
    expect(blame.get_by_role("row").filter(has_text="train.parquet")).to_contain_text("Version two")


def test_back_forward_paging_and_visible_focus(admin_page: Page, admin_client: AdminClient) -> None:
    page = admin_page
    repo = unique("pages")
    admin_client.create_repository(repo, "", "main")
    for i in range(130):
        put(admin_client, repo, "main", f"many/part-{i:04d}.csv", b"x\n1\n")
    put(admin_client, repo, "main", "readme.txt", b"hello")

    page.goto(f"/ui/repositories/{repo}/objects")
    page.get_by_role("link", name="many/", exact=True).click()
    listing = page.get_by_role("table", name="Objects")
    expect(listing.get_by_role("row")).to_have_count(101)  # header + one page of 100
    expect(listing).to_contain_text("part-0099.csv")
    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile(r"after="))
    expect(listing.get_by_role("row")).to_have_count(31)
    expect(listing).to_contain_text("part-0129.csv")
    page.get_by_role("link", name="part-0120.csv", exact=True).click()
    expect(page.get_by_role("heading", name="part-0120.csv")).to_be_visible()
    page.go_back()
    expect(page).to_have_url(re.compile(r"after="))
    expect(page.get_by_role("table", name="Objects")).to_contain_text("part-0129.csv")
    page.go_back()
    expect(page.get_by_role("table", name="Objects")).to_contain_text("part-0000.csv")
    page.go_forward()
    page.go_forward()
    expect(page.get_by_role("heading", name="part-0120.csv")).to_be_visible()
    # Keyboard focus is always visible.
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")


def test_a_reader_sees_write_actions_refused(
    context: BrowserContext, page: Page, admin_client: AdminClient
) -> None:
    repo = unique("ro")
    admin_client.create_repository(repo, "", "main")
    put(admin_client, repo, "main", "data/a.csv", b"x\n1\n")
    admin_client.commit(repo, "main", "seed")
    user = unique("reader")
    admin_client.create_user(user)
    key = admin_client.create_key(user)
    admin_client.add_grant(user, repo, "*", "read")
    sign_in(page, key["access_key_id"], key["secret_access_key"])
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    expect(page.get_by_role("link", name=repo)).to_be_visible()

    page.goto(f"/ui/repositories/{repo}/objects?ref=main&path=data/")
    ready(page)
    page.get_by_label("Files to upload").set_input_files(
        files=[{"name": "b.csv", "mimeType": "text/csv", "buffer": b"y\n"}]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text(
        f"Not allowed: user '{user}' may not write on '{repo}' branch 'main'"
    )
    page.reload()
    ready(page)
    page.get_by_role("button", name="Delete a.csv").click()
    expect(page.get_by_role("alert")).to_contain_text("Not allowed")

    page.goto(f"/ui/repositories/{repo}/branches")
    page.get_by_label("New branch name").fill("mine")
    page.get_by_role("button", name="Create branch").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Not allowed: user '{user}' may not commit")

    page.goto(f"/ui/repositories/{repo}/changes?ref=main")
    page.get_by_label("Commit message").fill("sneaky")
    page.get_by_role("button", name="Commit changes").click()
    expect(page.get_by_role("alert")).to_contain_text("Not allowed")

    page.goto("/ui/admin/users")
    expect(page.get_by_role("alert")).to_contain_text("Not allowed")
    # Nothing changed.
    assert [o["path"] for o in admin_client.list_objects(repo, "main", prefix="data/")] == [
        "data/a.csv"
    ]
    assert [b["id"] for b in admin_client.list_branches(repo)] == ["main"]


def test_sign_out_ends_the_session(
    context: BrowserContext, admin_page: Page, ui_server: WeirServer
) -> None:
    page = admin_page
    cookie = next(c for c in context.cookies() if c["name"] == "weir_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # the page's script cannot read it
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Weir")).to_be_visible()
    assert not [c for c in context.cookies() if c["name"] == "weir_session"]
    page.goto("/ui/admin/users")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Fadmin%2Fusers"))
    # The old cookie, replayed by hand, is refused by the API.
    replay = context.request.get(
        "/api/v1/repositories", headers={"Cookie": f"weir_session={cookie['value']}"}
    )
    assert replay.status == 401
    # Signing in again returns to where the user was going.
    page.get_by_label("Access key id").fill(ui_server.access_key)
    page.get_by_label("Secret access key").fill(ui_server.secret_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()


def test_an_html_object_opened_in_the_browser_cannot_use_the_session(
    admin_page: Page, admin_client: AdminClient
) -> None:
    repo = unique("xss")
    admin_client.create_repository(repo, "", "main")
    evil = b"<html><body><script>document.title = 'pwned'; fetch('/api/v1/auth/session')</script>"
    admin_client.upload_object(repo, "main", "evil.html", [evil], content_type="text/html")
    page = admin_page
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.goto(f"/api/v1/repositories/{repo}/refs/main/objects?path=evil.html")
    expect(page.locator("body")).to_be_attached()
    assert page.title() != "pwned"
    assert not [u for u in seen if u.endswith("/auth/session")]

"""The main story in a real browser: sign in, create a repository, upload, commit, branch,
change both sides, compare, resolve the conflict path by path, merge, and see it in the graph."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from gateway.client.api import AdminClient
from tests.ui.conftest import ready, unique


def upload(page: Page, name: str, data: bytes, to: str, mime: str = "text/csv") -> None:
    page.get_by_label("To path").fill(to)
    page.get_by_label("Files to upload").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Uploaded 1 file")).to_be_visible()


def commit(page: Page, repo: str, branch: str, message: str) -> None:
    page.goto(f"/ui/repositories/{repo}/changes?ref={branch}")
    page.get_by_label("Commit message").fill(message)
    page.get_by_role("button", name="Commit changes").click()
    expect(page.get_by_role("heading", name=message)).to_be_visible()


def read(client: AdminClient, repo: str, ref: str, path: str) -> bytes:
    with client.open_object(repo, ref, path) as download:
        return b"".join(download.chunks())


def test_create_upload_commit_branch_compare_resolve_and_merge(
    admin_page: Page, admin_client: AdminClient
) -> None:
    page = admin_page
    repo = unique("flow")
    # A browser's GET / lands on the UI; signed in, the repositories page.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/ui/$"))
    page.get_by_label("Name", exact=True).fill(repo)
    page.get_by_role("button", name="Create repository").click()
    expect(page).to_have_url(re.compile(f"/ui/repositories/{repo}/objects"))
    ready(page)

    upload(page, "labels.csv", b"id,label\n1,cat\n2,dog\n", "data/")
    expect(page.get_by_role("link", name="labels.csv", exact=True)).to_be_visible()
    page.goto(f"/ui/repositories/{repo}/changes?ref=main")
    changes = page.get_by_role("table", name="Uncommitted changes")
    expect(changes.get_by_role("row").filter(has_text="data/labels.csv")).to_contain_text("added")
    page.get_by_label("Commit message").fill("First labels")
    page.get_by_role("button", name="Add metadata").click()
    page.get_by_label("Metadata key").fill("source")
    page.get_by_label("Metadata value").fill("annotators")
    page.get_by_role("button", name="Commit changes").click()
    expect(page.get_by_role("heading", name="First labels")).to_be_visible()
    expect(page.locator("dl.kv")).to_contain_text("source = annotators")

    # A branch from main, a change on each side of the same path.
    page.get_by_role("link", name="Branches").click()
    page.get_by_label("New branch name").fill("relabel")
    page.get_by_role("button", name="Create branch").click()
    expect(page).to_have_url(re.compile(r"objects\?ref=relabel"))
    ready(page)
    upload(page, "labels.csv", b"id,label\n1,lion\n2,dog\n", "data/")
    upload(page, "extra.csv", b"id\n3\n", "data/")
    commit(page, repo, "relabel", "Relabel cats as lions")
    page.goto(f"/ui/repositories/{repo}/objects?ref=main&path=data/")
    ready(page)
    upload(page, "labels.csv", b"id,label\n1,tiger\n2,dog\n", "data/")
    commit(page, repo, "main", "Relabel cats as tigers")

    # Compare (three-dot: what relabel changed since it left main), then merge.
    page.get_by_role("link", name="Compare & merge").click()
    page.get_by_label("Compare ref (merge source)").fill("relabel")
    page.get_by_role("button", name="Compare", exact=True).click()
    diff = page.get_by_role("table", name="Differences")
    expect(diff.get_by_role("row").filter(has_text="data/labels.csv")).to_contain_text("changed")
    expect(diff.get_by_role("row").filter(has_text="data/extra.csv")).to_contain_text("added")
    page.get_by_role("button", name="Merge", exact=True).click()
    conflicts = page.get_by_role("table", name="Conflicts")
    row = conflicts.get_by_role("row").filter(has_text="data/labels.csv")
    expect(row).to_contain_text("both-changed")
    expect(page.get_by_role("alert")).to_contain_text("1 conflicting path")
    expect(page.get_by_role("status").filter(has_text="settled")).to_have_text("0 of 1 settled")
    row.get_by_label("take relabel").check()
    expect(page.get_by_role("status").filter(has_text="settled")).to_have_text("1 of 1 settled")
    page.get_by_role("button", name="Merge with these choices").click()
    expect(page.get_by_role("status").filter(has_text="Merged relabel into main")).to_be_visible()
    assert read(admin_client, repo, "main", "data/labels.csv") == b"id,label\n1,lion\n2,dog\n"
    assert read(admin_client, repo, "main", "data/extra.csv") == b"id\n3\n"

    # The graph shows the merge with both branches' commits.
    page.get_by_role("link", name="See the merge commit").click()
    expect(page.locator("dl.kv")).to_contain_text("Parents")
    page.goto(f"/ui/repositories/{repo}/commits?ref=main")
    log = page.get_by_role("list", name="Commits of main")
    expect(log.get_by_role("listitem").first).to_contain_text("merge")
    expect(log).to_contain_text("Relabel cats as lions")
    expect(log).to_contain_text("Relabel cats as tigers")
    expect(page.locator("svg.graph circle")).to_have_count(5)

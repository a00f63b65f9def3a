"""Admin pages and history actions in a real browser: users, keys and grants; revert and
cherry-pick from a commit; branch protection; a rerun's comparison with its original."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from gateway.client.api import AdminClient
from gateway.client.runs import RunsApi
from tests.ui.conftest import unique
from tests.ui.demo import put


def read(client: AdminClient, repo: str, ref: str, path: str) -> bytes:
    with client.open_object(repo, ref, path) as download:
        return b"".join(download.chunks())


def test_admin_manages_users_keys_and_grants(admin_page: Page, admin_client: AdminClient) -> None:
    page = admin_page
    user = unique("ana")
    page.get_by_role("link", name="Users").click()
    page.get_by_label("New user name").fill(user)
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name=f"User {user}")).to_be_visible()
    page.get_by_role("button", name="Create access key").click()
    secret = page.locator(".secret-value")
    expect(secret).to_be_visible()
    key_id = page.locator(".secret dd").first.inner_text()
    assert len(secret.inner_text()) >= 20
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_role("table", name="Access keys")).to_contain_text(key_id)
    expect(page.locator(".secret-value")).to_have_count(0)  # shown once, then gone
    page.get_by_label("Repository glob").fill("team-*")
    page.get_by_label("Action").select_option("write")
    page.get_by_role("button", name="Add grant").click()
    grants = page.get_by_role("table", name="Grants")
    expect(grants.get_by_role("row").filter(has_text="team-*")).to_contain_text("write")
    assert [(g["repository"], g["action"]) for g in admin_client.list_grants(user)] == [
        ("team-*", "write")
    ]
    page.get_by_role("button", name=f"Revoke key {key_id}").click()
    expect(page.get_by_role("table", name="Access keys")).to_have_count(0)


def test_revert_and_cherry_pick_from_a_commit(admin_page: Page, admin_client: AdminClient) -> None:
    page = admin_page
    repo = unique("pick")
    admin_client.create_repository(repo, "", "main")
    put(admin_client, repo, "main", "a.txt", b"one")
    admin_client.commit(repo, "main", "one")
    admin_client.create_branch(repo, "side", "main")
    put(admin_client, repo, "main", "a.txt", b"two")
    two = admin_client.commit(repo, "main", "two")
    page.goto(f"/ui/repositories/{repo}/commits/{two['id']}")
    page.get_by_label("Target branch").fill("side")
    page.get_by_role("button", name="Cherry-pick onto branch").click()
    expect(page).to_have_url(re.compile(r"commits\?ref=side"))
    assert read(admin_client, repo, "side", "a.txt") == b"two"
    page.goto(f"/ui/repositories/{repo}/commits/{two['id']}")
    page.get_by_label("Target branch").fill("main")
    page.get_by_role("button", name="Revert this commit").click()
    expect(page.get_by_role("list", name="Commits of main")).to_contain_text("Revert")
    assert read(admin_client, repo, "main", "a.txt") == b"one"


def test_protect_a_branch(admin_page: Page, admin_client: AdminClient) -> None:
    page = admin_page
    repo = unique("prot")
    admin_client.create_repository(repo, "", "main")
    page.goto(f"/ui/repositories/{repo}/branches")
    page.get_by_role("button", name="Protect main").click()
    row = page.get_by_role("table", name="Branches").get_by_role("row").filter(has_text="main")
    expect(row).to_contain_text("protected")
    page.goto(f"/ui/repositories/{repo}/objects?ref=main")
    page.get_by_label("Files to upload").set_input_files(
        files=[{"name": "x.txt", "mimeType": "text/plain", "buffer": b"x"}]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("protected")


def test_a_rerun_is_compared_with_its_original(admin_page: Page, admin_client: AdminClient) -> None:
    page = admin_page
    repo = unique("rerun")
    admin_client.create_repository(repo, "", "main")
    api = RunsApi(admin_client)
    first = api.start(repo, ["python", "job.py"], name=unique("job"))
    put(admin_client, repo, first["run_branch"], "out/a.txt", b"same")
    put(admin_client, repo, first["run_branch"], "out/b.txt", b"v1")
    api.finish(first["id"], 0)
    again = api.rerun(first["id"])
    put(admin_client, repo, again["run_branch"], "out/a.txt", b"same")
    put(admin_client, repo, again["run_branch"], "out/b.txt", b"v2")
    api.finish(again["id"], 0)
    page.goto(f"/ui/runs/{again['id']}")
    expect(page.get_by_role("heading", name=re.compile("Run "))).to_contain_text("succeeded")
    comparison = page.get_by_role("table", name="Rerun comparison")
    expect(comparison.get_by_role("row").filter(has_text="out/a.txt")).to_contain_text("same")
    expect(comparison.get_by_role("row").filter(has_text="out/b.txt")).to_contain_text("differs")
    page.get_by_role("link", name=first["id"]).click()
    expect(page).to_have_url(re.compile(f"/ui/runs/{first['id']}$"))


def test_the_audit_trail_lists_changes_and_verifies(
    admin_page: Page, admin_client: AdminClient
) -> None:
    page = admin_page
    repo = unique("aud")
    admin_client.create_repository(repo, "", "main")
    put(admin_client, repo, "main", "a.txt", b"x")
    page.get_by_role("link", name="Audit").click()
    page.get_by_label("Repository").fill(repo)
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(f"repository={repo}"))
    records = page.get_by_role("table", name="Audit records")
    expect(records.get_by_role("row").filter(has_text="a.txt")).to_contain_text("admin")
    expect(records.get_by_role("row").filter(has_text="a.txt")).to_contain_text("ok")
    page.get_by_role("button", name="Verify the hash chain").click()
    expect(page.get_by_role("status").filter(has_text="chain")).to_contain_text("The chain holds")

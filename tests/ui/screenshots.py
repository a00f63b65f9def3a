"""Regenerate the README's screenshots: ``make screenshots`` (or
``python -m tests.ui.screenshots docs/screenshots``).

Starts a real Weir server on a temporary data directory, fills it with the demo lake
(``tests.ui.demo``), signs in with headless Debian Chromium and captures the main pages.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import boto3  # type: ignore[import-untyped]
from botocore.config import Config
from playwright.sync_api import Page, expect, sync_playwright

from gateway.client.api import AdminClient, ApiError
from gateway.client.runs import run
from tests.functional.conftest import run_weir
from tests.ui.browser import ARGS, chromium_path
from tests.ui.demo import csv_bytes, parquet_bytes, put, seed

REPO = "training-data"
WIDTH, MAX_HEIGHT = 1280, 1000


def prepare(client: AdminClient) -> None:
    seed(client, REPO)
    for name in ("ranking-models", "raw-events"):
        client.create_repository(name, "", "main")
    client.create_branch(REPO, "relabel", "main")
    put(client, REPO, "relabel", "data/labels.csv", csv_bytes(180, flip=True))
    put(client, REPO, "relabel", "data/notes.md", b"# Relabelling\n\nBy hand.\n")
    client.commit(REPO, "relabel", "Relabel after the guideline change")
    put(client, REPO, "main", "data/labels.csv", csv_bytes(170))
    client.commit(REPO, "main", "Drop ambiguous labels")
    client.create_user("dana")
    client.create_key("dana")
    client.add_grant("dana", REPO, "*", "commit")
    client.add_grant("dana", "raw-*", "*", "read")
    try:
        client.merge(REPO, "relabel", "main")
    except ApiError as exc:
        assert exc.status == 409  # left for the compare page to show
    put(client, "ranking-models", "main", "ranker/weights.bin", b"\x00" * 4096)
    client.commit(
        "ranking-models",
        "main",
        "Train ranker v3",
        {"git": "4f2c1e9", "auc": "0.913"},
        inputs=[f"{REPO}@v1.0:data/", f"{REPO}@experiment:config/params.json"],
    )


def record_run(endpoint: str, key: str, secret: str) -> None:
    """A job under ``weir run``: reads the training data, writes features."""
    with run(
        REPO,
        name="features-2026-12",
        command=["python", "build_features.py", "--window", "30d"],
        endpoint=endpoint,
        access_key_id=key,
        secret_access_key=secret,
    ) as job:
        s3 = boto3.client(
            "s3",
            endpoint_url=job.endpoint,
            aws_access_key_id=job.access_key_id,
            aws_secret_access_key=job.secret_access_key,
            region_name=job.region,
            config=Config(s3={"addressing_style": "path"}),
        )
        s3.get_object(Bucket=REPO, Key="main/data/train.parquet")["Body"].read()
        s3.get_object(Bucket=REPO, Key="main/data/labels.csv")["Body"].read()
        s3.put_object(Bucket=REPO, Key="main/features/window-30d.parquet", Body=parquet_bytes(500))


def shoot(page: Page, out: Path, name: str) -> None:
    expect(page.locator("section.view[data-ready]")).to_have_count(1)
    height = min(MAX_HEIGHT, page.evaluate("document.documentElement.scrollHeight"))
    page.screenshot(
        path=str(out / f"{name}.png"),
        clip={"x": 0, "y": 0, "width": WIDTH, "height": height},
        full_page=True,
    )
    print(f"wrote {out / name}.png")


def capture(endpoint: str, key: str, secret: str, out: Path) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=ARGS)
        page = browser.new_page(base_url=endpoint, viewport={"width": WIDTH, "height": 800})
        page.goto("/")
        page.get_by_label("Access key id").fill(key)
        page.get_by_label("Secret access key").fill(secret)
        shoot(page, out, "sign-in")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        shoot(page, out, "repositories")
        base = f"/ui/repositories/{REPO}"
        page.goto(f"{base}/objects?ref=main&path=data/")
        shoot(page, out, "objects")
        page.goto(f"{base}/objects?ref=main&path=data/train.parquet")
        expect(page.get_by_role("table", name="First rows")).to_be_visible()
        shoot(page, out, "preview-parquet")
        page.goto(f"{base}/commits?ref=experiment")
        shoot(page, out, "commit-graph")
        page.goto(f"{base}/commits?ref=main")
        page.get_by_role("link", name="Merge cleaning into main").click()
        expect(page.get_by_role("table", name="Changes in this commit")).to_be_visible()
        shoot(page, out, "commit")
        page.goto(f"{base}/changes?ref=experiment")
        shoot(page, out, "changes")
        page.goto(f"{base}/compare?base=main&compare=relabel")
        page.get_by_role("button", name="Merge", exact=True).click()
        expect(page.get_by_role("table", name="Conflicts")).to_be_visible()
        page.get_by_role("table", name="Conflicts").scroll_into_view_if_needed()
        page.evaluate("window.scrollTo(0, 0)")
        shoot(page, out, "merge-conflicts")
        page.goto(f"{base}/branches")
        shoot(page, out, "branches")
        page.goto("/ui/admin/users/dana")
        shoot(page, out, "user")
        page.goto("/ui/repositories/ranking-models/lineage?ref=main")
        shoot(page, out, "lineage")
        page.goto("/ui/runs")
        page.get_by_role("link", name="features-2026-12").click()
        expect(page.get_by_role("table", name="Run outputs")).to_be_visible()
        shoot(page, out, "run")
        page.goto(f"/ui/audit?repository={REPO}")
        shoot(page, out, "audit")
        browser.close()


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_weir(Path(tmp) / "data", Path(tmp) / "log") as server,
    ):
        prepare(AdminClient(server.endpoint, server.access_key, server.secret_key))
        record_run(server.endpoint, server.access_key, server.secret_key)
        capture(server.endpoint, server.access_key, server.secret_key, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

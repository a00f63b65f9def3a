"""Lineage and isolated runs in a real browser: follow an input edge from a model back to the
data it was built from (and downstream again), and read a run's inputs and outputs."""

from __future__ import annotations

import re

import boto3  # type: ignore[import-untyped]
from botocore.config import Config
from playwright.sync_api import Page, expect

from gateway.client.api import AdminClient
from gateway.client.runs import run
from tests.functional.conftest import WeirServer
from tests.ui.conftest import unique
from tests.ui.demo import put


def test_follow_a_lineage_edge(admin_page: Page, admin_client: AdminClient) -> None:
    page = admin_page
    data, model = unique("data"), unique("model")
    admin_client.create_repository(data, "", "main")
    put(admin_client, data, "main", "train/part-0.csv", b"x\n1\n")
    admin_client.commit(data, "main", "Training set v1")
    admin_client.create_repository(model, "", "main")
    put(admin_client, model, "main", "weights.bin", b"\x00" * 64)
    admin_client.commit(model, "main", "Model trained on v1", inputs=[f"{data}@main:train/"])

    page.goto(f"/ui/repositories/{model}/commits?ref=main")
    page.get_by_role("link", name="Model trained on v1").click()
    expect(page.locator("dl.kv")).to_contain_text(f"{data}@main")
    page.get_by_role("link", name="Lineage", exact=True).click()
    graph = page.get_by_role("group", name="Lineage graph")
    expect(graph).to_contain_text(data)
    edges = page.get_by_role("table", name="Lineage edges")
    expect(edges).to_contain_text("input@main: train/")
    # Follow the edge: the producer's node is a link to its own lineage.
    graph.get_by_role("link", name=re.compile(f"Lineage of {data} at")).click()
    expect(page.get_by_role("heading", name=re.compile(f"Lineage of {data} @"))).to_be_visible()
    page.get_by_label("Direction").select_option("downstream")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile("direction=downstream"))
    downstream = page.get_by_role("group", name="Lineage graph")
    expect(downstream).to_contain_text(model)
    expect(downstream).to_contain_text("Model trained on v1")


def test_a_run_shows_what_it_read_and_wrote(
    admin_page: Page, admin_client: AdminClient, ui_server: WeirServer
) -> None:
    page = admin_page
    repo = unique("runs")
    admin_client.create_repository(repo, "", "main")
    put(admin_client, repo, "main", "data/in.csv", b"a\n1\n")
    admin_client.commit(repo, "main", "input data")
    with run(
        repo,
        name=unique("train"),
        command=["python", "train.py"],
        endpoint=ui_server.endpoint,
        access_key_id=ui_server.access_key,
        secret_access_key=ui_server.secret_key,
    ) as job:
        s3 = boto3.client(
            "s3",
            endpoint_url=job.endpoint,
            aws_access_key_id=job.access_key_id,
            aws_secret_access_key=job.secret_access_key,
            region_name=job.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )
        s3.get_object(Bucket=repo, Key="main/data/in.csv")["Body"].read()
        s3.put_object(Bucket=repo, Key="main/out/model.txt", Body=b"weights")

    page.goto("/ui/runs")
    row = page.get_by_role("table", name="Runs").get_by_role("row").filter(has_text=job.name)
    expect(row).to_contain_text("succeeded")
    row.get_by_role("link", name=job.name).click()
    expect(page.get_by_role("heading", name=re.compile(f"Run {job.name}"))).to_be_visible()
    inputs = page.get_by_role("table", name="Run inputs")
    expect(inputs.get_by_role("row").filter(has_text=repo)).to_contain_text("1")
    outputs = page.get_by_role("table", name="Run outputs")
    expect(outputs.get_by_role("row").filter(has_text="out/model.txt")).to_contain_text("added")
    page.get_by_role("link", name="Lineage of the result").click()
    expect(page.get_by_role("group", name="Lineage graph")).to_contain_text(repo)

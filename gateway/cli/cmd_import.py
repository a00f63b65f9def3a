"""``weir import``: bring a prefix of any bucket under version control, without copying it."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from typing import Any

from gateway.cli import render
from gateway.cli.context import CliError, Context, Parser, add_command, isatty, key_value
from gateway.client.imports import ImportsApi

POLL_SECONDS = 0.5


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    p = add_command(
        sub,
        "import",
        help="import objects of a bucket as one commit, without copying them",
        description="Bring every object under SOURCE (s3://bucket/prefix, any bucket the "
        "server's object-store credentials can read) under version control as one commit on "
        "BRANCH: entries point at the objects where they are (address, ETag, size, last "
        "modified); no byte is copied or read. Reads of them stream from the source, and fail "
        "clearly if it changed since. The import runs on the server and shows its progress "
        "here; Ctrl-C leaves it running (follow it with --status, stop it with --cancel). "
        "Nothing of an import is visible until its commit, and a server that stops resumes it. "
        "Needs the admin grant.",
        examples="""
  weir import lake main s3://raw-bucket/events/2026/
  weir import lake main s3://raw-bucket/events/ --dest raw/events/ --commit-message "Take over"
  weir import lake main --status 3f2a9c1b5e7d0a46
  weir import lake main --cancel 3f2a9c1b5e7d0a46
  weir import lake --list
""",
        handler=import_,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("branch", nargs="?", metavar="BRANCH", help="branch that gets the commit")
    p.add_argument("source", nargs="?", metavar="SOURCE", help="s3://bucket/prefix")
    p.add_argument("--dest", default="", metavar="PATH", help="path prefix on the branch")
    p.add_argument("--commit-message", default="", metavar="M", help="commit message")
    p.add_argument(
        "--meta",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="commit metadata (repeatable)",
    )
    p.add_argument("--no-wait", action="store_true", help="start it and print its id")
    p.add_argument("--status", metavar="ID", help="show (and follow) import ID")
    p.add_argument("--cancel", metavar="ID", help="cancel import ID")
    p.add_argument("--list", action="store_true", help="the repository's imports")


def import_(ctx: Context) -> int:
    a = ctx.args
    api = ImportsApi(ctx.client())
    if a.list:
        return _list(ctx, api.list(a.repo))
    if not a.branch:
        raise CliError("give BRANCH (and SOURCE to start an import)", 2)
    if a.cancel:
        api.cancel(a.repo, a.branch, a.cancel)
        ctx.note(f"import {a.cancel} cancelled: nothing of it is committed")
        return 0
    if a.status:
        import_id = a.status
    else:
        if not a.source:
            raise CliError("give SOURCE (s3://bucket/prefix)", 2)
        import_id = api.start(
            a.repo,
            a.branch,
            [("common_prefix", a.source, a.dest)],
            message=a.commit_message,
            metadata=dict(a.meta),
        )
        if a.no_wait:
            if ctx.json:
                ctx.emit_json({"id": import_id})
            else:
                ctx.out(import_id)
            return 0
    try:
        status = _follow(ctx, api, a.repo, a.branch, import_id)
    except KeyboardInterrupt:
        ctx.note(
            f"\nimport {import_id} goes on on the server: follow it with "
            f"`weir import {a.repo} {a.branch} --status {import_id}`, "
            f"stop it with --cancel {import_id}"
        )
        return 130
    return _report(ctx, status, a.repo, a.branch)


def _follow(
    ctx: Context, api: ImportsApi, repo: str, branch: str, import_id: str
) -> Mapping[str, Any]:
    """Poll until the import ends, drawing ``import ID: N objects (R/s)`` on a terminal."""
    live = isatty(ctx.stderr)
    start, shown = time.monotonic(), ""
    while True:
        status = api.status(repo, branch, import_id)
        if status["state"] != "running":
            if live and shown:
                ctx.stderr.write("\n")
            return dict(status)
        if live:
            n = status.get("ingested_objects", 0)
            rate = n / max(time.monotonic() - start, 1e-3)
            phase = "committing" if status.get("listed") else "listing"
            line = f"import {import_id}: {phase}, {n:,} objects ({rate:,.0f}/s)"
            ctx.stderr.write("\r" + line.ljust(len(shown)))
            ctx.stderr.flush()
            shown = line
        time.sleep(POLL_SECONDS)  # polling the server's progress


def _report(ctx: Context, status: Mapping[str, Any], repo: str, branch: str) -> int:
    if ctx.json:
        ctx.emit_json(status)
        return 0 if status["state"] == "completed" else 1
    n = status.get("ingested_objects", 0)
    if status["state"] == "completed":
        commit = status.get("commit")
        if commit:
            ctx.out(
                f"imported {n:,} objects into {repo}/{branch}: commit {commit['id'][:12]} "
                f"(import {status['id']})"
            )
        else:
            ctx.out(f"{n:,} objects, all unchanged: nothing to commit (import {status['id']})")
        return 0
    message = (status.get("error") or {}).get("message", status["state"])
    raise CliError(f"import {status['id']} {status['state']} after {n:,} objects: {message}")


def _list(ctx: Context, jobs: list[Any]) -> int:
    if ctx.json:
        ctx.emit_json(jobs)
        return 0
    rows = [
        (
            j["id"],
            j["branch"],
            j["state"],
            f"{j.get('ingested_objects', 0):,}",
            " ".join(s["path"] for s in j.get("sources", [])),
        )
        for j in jobs
    ]
    ctx.out(render.table(("import", "branch", "state", "objects", "sources"), rows))
    return 0

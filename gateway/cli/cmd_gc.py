"""``weir gc``, ``weir gc-runs`` and ``weir gc-rules``: garbage collection with retention."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from typing import Any

from gateway.cli import render
from gateway.cli.context import CliError, Context, Parser, add_command, isatty

POLL_SECONDS = 0.5


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    p = add_command(
        sub,
        "gc",
        help="collect garbage: free what no retained commit, staged object or upload needs",
        description="Run a garbage collection on the server and wait for it, showing progress. "
        "It frees blobs, tree nodes and manifests that nothing retained references, parts of "
        "aborted or abandoned multipart uploads, and commits no branch or tag reaches once they "
        "are older than the repository's retention (see weir gc-rules). The server keeps "
        "serving meanwhile. With REPO, only that repository's commits are candidates (content "
        "is shared, so every repository is marked). Needs the admin grant.",
        examples="""
  weir gc --dry-run            # what would be freed, nothing deleted
  weir gc                      # every repository
  weir gc analytics --no-wait  # start it and print the run id
""",
        handler=gc,
    )
    p.add_argument("repo", nargs="?", metavar="REPO", help="only this repository's commits")
    p.add_argument("--dry-run", action="store_true", help="count what would be freed")
    p.add_argument(
        "--grace",
        type=int,
        metavar="SECONDS",
        help="keep content written or claimed this recently (default: the server's setting); "
        "0 only when no writer is active",
    )
    p.add_argument("--no-wait", action="store_true", help="start and print the run id")

    p = add_command(
        sub,
        "gc-runs",
        help="list garbage collection runs, show one, or cancel one",
        description="Without RUN: recent runs, newest first. With RUN: its progress or report. "
        "With --cancel: stop a running collection at its next batch.",
        examples="""
  weir gc-runs
  weir gc-runs 20261202T101500.123456Z-a1b2c3
  weir gc-runs 20261202T101500.123456Z-a1b2c3 --cancel
""",
        handler=runs,
    )
    p.add_argument("run", nargs="?", metavar="RUN", help="a run id")
    p.add_argument("--cancel", action="store_true", help="cancel RUN")

    p = add_command(
        sub,
        "gc-rules",
        help="show or set a repository's retention rules",
        description="Every commit a branch or tag reaches is kept. Other commits are kept while "
        "younger than the default days, and a commit that a deleted (or hard-reset) branch "
        "pointed at is kept for that branch's days, from the first --branch glob matching its "
        "name. Rules only add retention. Without options: show the rules.",
        examples="""
  weir gc-rules analytics
  weir gc-rules analytics --default-days 7 --branch 'release/*=90' --branch 'runs/*=1'
  weir gc-rules analytics --clear   # back to the server default
""",
        handler=gc_rules,
    )
    p.add_argument("repo", metavar="REPO")
    p.add_argument("--default-days", type=int, metavar="N", help="default retention in days")
    p.add_argument(
        "--branch",
        action="append",
        default=[],
        metavar="GLOB=DAYS",
        help="retention of commits a deleted branch matching GLOB pointed at (repeatable)",
    )
    p.add_argument("--clear", action="store_true", help="drop the repository's own rules")


def gc(ctx: Context) -> int:
    a = ctx.args
    client = ctx.client()
    run: Mapping[str, Any] = client.start_gc(a.repo or "", a.dry_run, a.grace)
    if a.no_wait:
        if ctx.json:
            ctx.emit_json(run)
        else:
            ctx.out(run["id"])
        return 0
    live = isatty(ctx.stderr)
    shown = ""
    while run["state"] == "running":
        line = _progress(run)
        if line != shown:
            if live:
                ctx.stderr.write("\r" + line.ljust(len(shown)))
                ctx.stderr.flush()
            elif run["phase"] not in shown:
                ctx.note(line)
            shown = line
        time.sleep(POLL_SECONDS)
        run = client.get_gc_run(run["id"])
    if live and shown:
        ctx.stderr.write("\n")
    _report(ctx, run)
    return 0 if run["state"] == "succeeded" else 1


def _progress(run: Mapping[str, Any]) -> str:
    m = run.get("marked", {})
    freed = sum(f["count"] for f in run.get("freed", {}).values())
    return (
        f"gc {run['id']}: {run['phase']} | marked {m.get('commits', 0)} commits, "
        f"{m.get('nodes', 0)} nodes, {m.get('blobs', 0)} blobs | freed {freed}"
    )


def _report(ctx: Context, run: Mapping[str, Any]) -> None:
    if ctx.json:
        ctx.emit_json(run)
        return
    verb = "would free" if run["dry_run"] else "freed"
    rows = [
        (kind, f["count"], render.size(f["bytes"]) if f["bytes"] else "")
        for kind, f in sorted(run.get("freed", {}).items())
    ]
    ctx.out(f"gc {run['id']}: {run['state']}" + (" (dry run)" if run["dry_run"] else ""))
    if run.get("error"):
        ctx.out(f"error: {run['error']}")
    if rows:
        ctx.out(render.table(("kind", verb, "bytes"), rows))
    else:
        ctx.out(f"nothing to {'free' if run['dry_run'] else 'collect'}")
    aborted = run.get("uploads_aborted", 0)
    if aborted:
        ctx.out(
            f"abandoned multipart uploads {'to abort' if run['dry_run'] else 'aborted'}: {aborted}"
        )
    ctx.out(f"total {verb}: {render.size(run.get('freed_bytes', 0))}")


def runs(ctx: Context) -> int:
    a = ctx.args
    client = ctx.client()
    if a.cancel:
        if not a.run:
            raise CliError("--cancel needs a RUN id", 2)
        client.cancel_gc_run(a.run)
        ctx.note(f"cancel requested for {a.run}")
        return 0
    if a.run:
        _report(ctx, client.get_gc_run(a.run))
        return 0
    found = client.list_gc_runs()
    if ctx.json:
        ctx.emit_json(found)
        return 0
    rows = [
        (
            r["id"],
            r["state"] + (" (dry run)" if r["dry_run"] else ""),
            r.get("repository") or "*",
            render.size(r.get("freed_bytes", 0)),
            render.when(r["started_at"]),
        )
        for r in found
    ]
    ctx.out(render.table(("run", "state", "repository", "freed", "started"), rows))
    return 0


def _branch_rule(text: str) -> dict[str, Any]:
    glob, sep, days = text.rpartition("=")
    if not sep or not glob or not days.isdigit():
        raise CliError(f"--branch expects GLOB=DAYS, got {text!r}", 2)
    return {"branch_id": glob, "retention_days": int(days)}


def gc_rules(ctx: Context) -> int:
    a = ctx.args
    client = ctx.client()
    if a.clear:
        client.delete_gc_rules(a.repo)
        ctx.note(f"{a.repo}: retention rules cleared (the server default applies)")
        return 0
    if a.default_days is not None or a.branch:
        current = client.get_gc_rules(a.repo) or {}
        days = (
            a.default_days if a.default_days is not None else current.get("default_retention_days")
        )
        if days is None:
            raise CliError("give --default-days (the repository has no rules yet)", 2)
        branches = [_branch_rule(b) for b in a.branch] if a.branch else current.get("branches", [])
        client.set_gc_rules(a.repo, {"default_retention_days": days, "branches": branches})
    found = client.get_gc_rules(a.repo)
    if ctx.json:
        ctx.emit_json(found)
        return 0
    if found is None:
        ctx.out(f"{a.repo}: no rules of its own (the server default applies)")
        return 0
    ctx.out(f"default retention: {found['default_retention_days']} days")
    for b in found.get("branches", []):
        ctx.out(f"  {b['branch_id']}: {b['retention_days']} days")
    return 0

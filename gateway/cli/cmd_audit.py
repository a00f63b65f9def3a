"""``weir audit``: read the audit trail; ``weir audit verify``: check its hash chain."""

from __future__ import annotations

import argparse
import datetime

from gateway.cli import render
from gateway.cli.context import CliError, Context, Parser, UsageError, add_command, positive


def _when(text: str) -> str:
    """An RFC 3339 date-time, a date, or unix seconds -> RFC 3339 for the API."""
    if text.replace(".", "", 1).isdigit():
        moment = datetime.datetime.fromtimestamp(float(text), tz=datetime.UTC)
        return moment.isoformat()
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        msg = f"expected a date-time or unix seconds, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.isoformat()


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    p = add_command(
        sub,
        "audit",
        help="read the audit trail, or verify its hash chain",
        description="Every mutating operation on either API is on the audit trail: who, which "
        "access key, what, which repository and ref, the result, when and from which address, "
        "hash-chained. Without an action: the records, newest first. 'weir audit verify' "
        "checks the whole chain and names the first broken link; it exits 1 when one is "
        "broken. Admins only (a repository's admins with --repo).",
        examples="""
  weir audit --repo analytics --since 2026-11-01
  weir audit --user alice --limit 20 --json
  weir audit verify
""",
        handler=audit,
    )
    p.add_argument("action", nargs="?", choices=("list", "verify"), default="list")
    p.add_argument("--repo", default="", help="only records of this repository")
    p.add_argument("--user", default="", help="only records of this user")
    p.add_argument("--since", type=_when, help="from this time (date-time or unix seconds)")
    p.add_argument("--until", type=_when, help="up to this time")
    p.add_argument("--limit", "-n", type=positive, default=100, metavar="N", help="default 100")


def audit(ctx: Context) -> int:
    a = ctx.args
    client = ctx.client()
    if a.action == "verify":
        if a.repo or a.user or a.since or a.until:
            raise UsageError("verify checks the whole trail: no filters", "weir audit")
        verdict = client.audit_verify()
        if ctx.json:
            ctx.emit_json(verdict)
        elif verdict.get("ok"):
            ctx.out(f"audit trail intact: {verdict['records']} record(s), head {verdict['head']}")
        if not verdict.get("ok"):
            raise CliError(
                f"audit trail broken at record {verdict.get('broken_at')}: {verdict.get('reason')}"
            )
        return 0
    records = list(
        client.audit(repository=a.repo, user=a.user, since=a.since, until=a.until, limit=a.limit)
    )
    if ctx.json:
        ctx.emit_json(records)
        return 0
    rows = [
        (
            str(r.get("seq", "")),
            render.when(r.get("time")),
            str(r.get("user", "")),
            f"{r.get('api', '')}:{r.get('operation', '')}",
            "/".join(x for x in (r.get("repository"), r.get("ref"), r.get("path")) if x) or "-",
            str(r.get("result", "")) + (f" ({r['detail']})" if r.get("detail") else ""),
            str(r.get("address", "")),
        )
        for r in records
    ]
    ctx.out(render.table(("SEQ", "TIME", "USER", "OPERATION", "WHERE", "RESULT", "FROM"), rows))
    return 0

"""``weir blame``: per object, the commit that wrote the content a ref has."""

from __future__ import annotations

import argparse

from gateway.cli import render
from gateway.cli.context import Context, Parser, add_command, positive


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    p = add_command(
        sub,
        "blame",
        help="show, per object, the commit that last changed it",
        description="For PATH (or every object under PREFIX/, or the whole ref when omitted), "
        "the commit that wrote the content REF has. Merges are passed through to the side the "
        "content came from. Answered from the path index: fast on long histories.",
        examples="""
  weir blame analytics main data/train.parquet
  weir blame analytics main data/            # every object under data/
  weir blame analytics v1.0 --json
""",
        handler=blame,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("ref", metavar="REF", help="branch, tag, commit id or expression")
    p.add_argument(
        "path",
        metavar="PATH|PREFIX/",
        nargs="?",
        default="",
        help="an object, or a prefix ending in '/' (default: everything)",
    )
    p.add_argument("--limit", "-n", type=positive, metavar="N", help="at most N objects")


def blame(ctx: Context) -> int:
    a = ctx.args
    prefix = a.path == "" or a.path.endswith("/")
    lines = ctx.client().blame(a.repo, a.ref, a.path, prefix=prefix, limit=a.limit)
    if ctx.json:
        ctx.emit_json(list(lines))
        return 0
    rows = []
    for line in lines:
        c = line.get("commit") or {}
        first = (str(c.get("message") or "").splitlines() or [""])[0]
        rows.append(
            (
                str(line.get("path", "")),
                str(c.get("id", ""))[:12] or "-",
                render.when(c.get("creation_date")),
                str(c.get("committer", "")),
                first,
            )
        )
    ctx.out(render.table(("PATH", "COMMIT", "DATE", "COMMITTER", "MESSAGE"), rows))
    return 0

"""``weir lineage``: what a commit was built from, or what was built from it."""

from __future__ import annotations

import argparse

from gateway.cli.context import Context, Parser, add_command
from gateway.lineage import render


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    p = add_command(
        sub,
        "lineage",
        help="trace what a commit was built from, or what was built from it",
        description="The upstream graph of REF (with PATH: of the commit that last changed "
        "PATH; a PATH ending in '/' is a prefix): the inputs its commit recorded, the commits "
        "that wrote the input paths, their inputs, recursively across repositories. With "
        "--downstream: every commit recorded as built from it, or from a later commit still "
        "holding what it wrote. Draws a tree; --json gives the graph, --format dot or mermaid "
        "a picture.",
        examples="""
  weir lineage models main model.pt
  weir lineage datasets main train/part-0.parquet --downstream
  weir lineage models v3 --format dot | dot -Tsvg > lineage.svg
  weir lineage models v3 --format mermaid >> REPORT.md
""",
        handler=lineage,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("ref", metavar="REF", help="branch, tag, commit id or expression")
    p.add_argument("path", metavar="PATH", nargs="?", default="", help="an object or prefix/")
    p.add_argument("--downstream", action="store_true", help="what was built from it")
    p.add_argument(
        "--depth", type=int, default=None, metavar="N", help="input hops to follow (default 8)"
    )
    p.add_argument(
        "--format", choices=sorted(render.FORMATS), default="tree", help="drawing (default tree)"
    )


def lineage(ctx: Context) -> int:
    a = ctx.args
    graph = ctx.client().lineage(a.repo, a.ref, a.path, downstream=a.downstream, depth=a.depth)
    if ctx.json:
        ctx.emit_json(graph)
    else:
        ctx.out(render.FORMATS[a.format](graph))
    return 0

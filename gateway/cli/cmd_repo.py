"""``weir repo create|list|delete``."""

from __future__ import annotations

import argparse

from gateway.cli import render
from gateway.cli.context import Context, Parser, add_command, add_group, positive


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    _, repo = add_group(
        sub,
        "repo",
        help="create, list and delete repositories",
        description="Manage repositories. A repository is an S3 bucket with branches: "
        "s3://REPO/BRANCH/PATH.",
    )
    p = add_command(
        repo,
        "create",
        help="create a repository with an empty default branch",
        description="Create a repository. Its default branch starts at an empty commit.",
        examples="""
  weir repo create analytics
  weir repo create analytics --default-branch trunk
""",
        handler=create,
    )
    p.add_argument("name", metavar="NAME", help="repository name: 3-63 of a-z, 0-9 and '-'")
    p.add_argument(
        "--default-branch", default="main", metavar="BRANCH", help="default branch (main)"
    )
    p.add_argument(
        "--storage-namespace",
        metavar="URI",
        help="storage namespace recorded for lakeFS clients (default local://NAME)",
    )

    p = add_command(
        repo,
        "list",
        help="list repositories",
        description="List repositories, sorted by name.",
        examples="""
  weir repo list
  weir repo list --prefix team- --json
""",
        handler=list_,
    )
    p.add_argument("--prefix", default="", help="only names starting with PREFIX")
    p.add_argument("--limit", type=positive, metavar="N", help="show at most N")

    p = add_command(
        repo,
        "delete",
        help="delete a repository and all its branches, tags and history",
        description="Delete a repository, with every branch, tag and commit in it. "
        "This cannot be undone; it asks for confirmation unless --yes is given.",
        examples="""
  weir repo delete scratch --yes
""",
        handler=delete,
    )
    p.add_argument("name", metavar="NAME", help="repository to delete")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")


def create(ctx: Context) -> int:
    a = ctx.args
    namespace = a.storage_namespace or f"local://{a.name}"
    repo = ctx.client().create_repository(a.name, namespace, a.default_branch)
    if ctx.json:
        ctx.emit_json(repo)
    else:
        ctx.out(f"Created repository '{a.name}' (default branch '{a.default_branch}')")
    return 0


def list_(ctx: Context) -> int:
    repos = list(ctx.client().list_repositories(ctx.args.prefix, ctx.args.limit))
    if ctx.json:
        ctx.emit_json(repos)
        return 0
    rows = [
        (r.get("id", ""), r.get("default_branch", ""), render.when(r.get("creation_date")))
        for r in repos
    ]
    ctx.out(render.table(("REPOSITORY", "DEFAULT BRANCH", "CREATED"), rows))
    return 0


def delete(ctx: Context) -> int:
    name = ctx.args.name
    ctx.confirm(f"Delete repository '{name}' with all its branches and history")
    ctx.client().delete_repository(name)
    if ctx.json:
        ctx.emit_json({"repository": name, "deleted": True})
    else:
        ctx.out(f"Deleted repository '{name}'")
    return 0

"""``weir branch create|list|delete|reset|protect`` and ``weir tag create|list|delete``."""

from __future__ import annotations

import argparse

from gateway.cli import render
from gateway.cli.context import Context, Parser, UsageError, add_command, add_group


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    _register_branch(sub)
    _register_tag(sub)


def _register_branch(sub: argparse._SubParsersAction[Parser]) -> None:
    _, br = add_group(
        sub,
        "branch",
        help="create, list, delete, reset and protect branches",
        description="Manage branches. Creating a branch copies no data, whatever its size.",
    )
    p = add_command(
        br,
        "create",
        help="create a branch from a ref",
        description="Create branch NAME pointing at the commit of --source (a branch, tag, "
        "commit id or expression like main~1). Without --source: the default branch.",
        examples="""
  weir branch create analytics experiment
  weir branch create analytics hotfix --source v1.2
  weir branch create analytics retry --source main~3
""",
        handler=branch_create,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("name", metavar="NAME", help="new branch name")
    p.add_argument("--source", metavar="REF", help="where it starts (default: default branch)")

    p = add_command(
        br,
        "list",
        help="list branches and their head commits",
        description="List the branches of REPO with the commit each points at.",
        examples="""
  weir branch list analytics
  weir branch list analytics --prefix feature/ --json
""",
        handler=branch_list,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("--prefix", default="", help="only branches starting with PREFIX")

    p = add_command(
        br,
        "delete",
        help="delete a branch (its uncommitted changes are lost)",
        description="Delete a branch. Commits stay reachable from other refs; uncommitted "
        "changes on the branch are lost. The default branch cannot be deleted.",
        examples="""
  weir branch delete analytics experiment --yes
""",
        handler=branch_delete,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("branch", metavar="BRANCH", help="branch name")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    p = add_command(
        br,
        "reset",
        help="discard uncommitted changes, or move the branch to a ref",
        description="Discard the uncommitted changes of BRANCH: all of them, one --path, or "
        "everything under a --prefix. With --to REF, point the branch at REF's commit and "
        "discard all uncommitted changes (like git reset --hard).",
        examples="""
  weir branch reset analytics experiment --yes
  weir branch reset analytics experiment --path data/bad.csv --yes
  weir branch reset analytics experiment --prefix tmp/ --yes
  weir branch reset analytics experiment --to main~1 --yes
""",
        handler=branch_reset,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("branch", metavar="BRANCH", help="branch name")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--path", metavar="PATH", help="discard changes of this object only")
    what.add_argument("--prefix", metavar="PREFIX", help="discard changes under PREFIX only")
    what.add_argument("--to", metavar="REF", help="move the branch to REF's commit")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    p = add_command(
        br,
        "protect",
        help="show, add or remove branch protection rules",
        description="Protected branches (glob patterns, e.g. 'main' or 'release-*') accept only "
        "merges: direct writes, deletes, commits and resets are refused. Without GLOB, list "
        "the rules; with GLOB, add them; with --remove, remove them.",
        examples="""
  weir branch protect analytics                 # list the rules
  weir branch protect analytics main 'release-*'
  weir branch protect analytics --remove 'release-*'
""",
        handler=branch_protect,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("globs", metavar="GLOB", nargs="*", help="branch name patterns to protect")
    p.add_argument(
        "--remove", metavar="GLOB", action="append", default=[], help="rule to remove (repeatable)"
    )


def _register_tag(sub: argparse._SubParsersAction[Parser]) -> None:
    _, tag = add_group(
        sub,
        "tag",
        help="create, list and delete tags",
        description="Manage tags: immutable names for commits.",
    )
    p = add_command(
        tag,
        "create",
        help="tag a commit",
        description="Create tag TAG at the commit REF resolves to.",
        examples="""
  weir tag create analytics v1.0 main
  weir tag create analytics before-cleanup main~2
""",
        handler=tag_create,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("tag", metavar="TAG", help="tag name")
    p.add_argument("ref", metavar="REF", help="branch, tag, commit id or expression")

    p = add_command(
        tag,
        "list",
        help="list tags",
        description="List the tags of REPO with their commits.",
        examples="""
  weir tag list analytics
""",
        handler=tag_list,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("--prefix", default="", help="only tags starting with PREFIX")

    p = add_command(
        tag,
        "delete",
        help="delete a tag",
        description="Delete a tag (the commit it named is not affected).",
        examples="""
  weir tag delete analytics v1.0
""",
        handler=tag_delete,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("tag", metavar="TAG", help="tag name")


def branch_create(ctx: Context) -> int:
    a = ctx.args
    client = ctx.client()
    source = a.source or client.get_repository(a.repo).get("default_branch") or "main"
    commit_id = client.create_branch(a.repo, a.name, source)
    if ctx.json:
        ctx.emit_json({"id": a.name, "commit_id": commit_id, "source": source})
    else:
        ctx.out(f"Created branch '{a.name}' from '{source}' at {commit_id}")
    return 0


def branch_list(ctx: Context) -> int:
    branches = list(ctx.client().list_branches(ctx.args.repo, ctx.args.prefix))
    if ctx.json:
        ctx.emit_json(branches)
    else:
        rows = [(b.get("id", ""), b.get("commit_id", "")) for b in branches]
        ctx.out(render.table(("BRANCH", "COMMIT"), rows))
    return 0


def branch_delete(ctx: Context) -> int:
    a = ctx.args
    ctx.confirm(f"Delete branch '{a.branch}' of '{a.repo}' and its uncommitted changes")
    ctx.client().delete_branch(a.repo, a.branch)
    if ctx.json:
        ctx.emit_json({"repository": a.repo, "branch": a.branch, "deleted": True})
    else:
        ctx.out(f"Deleted branch '{a.branch}'")
    return 0


def branch_reset(ctx: Context) -> int:
    a = ctx.args
    client = ctx.client()
    if a.to:
        ctx.confirm(f"Move branch '{a.branch}' to '{a.to}' and discard its uncommitted changes")
        client.hard_reset(a.repo, a.branch, a.to)
        done = f"Branch '{a.branch}' now points at '{a.to}'"
    elif a.path:
        ctx.confirm(f"Discard uncommitted changes to '{a.path}' on '{a.branch}'")
        client.reset_branch(a.repo, a.branch, "object", a.path)
        done = f"Discarded uncommitted changes to '{a.path}' on '{a.branch}'"
    elif a.prefix:
        ctx.confirm(f"Discard uncommitted changes under '{a.prefix}' on '{a.branch}'")
        client.reset_branch(a.repo, a.branch, "common_prefix", a.prefix)
        done = f"Discarded uncommitted changes under '{a.prefix}' on '{a.branch}'"
    else:
        ctx.confirm(f"Discard all uncommitted changes on '{a.branch}'")
        client.reset_branch(a.repo, a.branch)
        done = f"Discarded all uncommitted changes on '{a.branch}'"
    if ctx.json:
        ctx.emit_json({"repository": a.repo, "branch": a.branch, "reset": True})
    else:
        ctx.out(done)
    return 0


def branch_protect(ctx: Context) -> int:
    a = ctx.args
    client = ctx.client()
    rules, etag = client.get_branch_protection(a.repo)
    if a.globs or a.remove:
        missing = [g for g in a.remove if g not in rules]
        if missing:
            raise UsageError(f"no protection rule {missing[0]!r} in '{a.repo}'")
        rules = [r for r in rules if r not in a.remove]
        rules += [g for g in dict.fromkeys(a.globs) if g not in rules]
        client.set_branch_protection(a.repo, rules, etag)
    if ctx.json:
        ctx.emit_json([{"pattern": r} for r in rules])
    else:
        ctx.out(render.table(("PROTECTED BRANCH PATTERN",), [(r,) for r in rules]))
    return 0


def tag_create(ctx: Context) -> int:
    a = ctx.args
    ref = ctx.client().create_tag(a.repo, a.tag, a.ref)
    if ctx.json:
        ctx.emit_json(ref)
    else:
        commit = ref.get("commit_id", "") if isinstance(ref, dict) else ""
        ctx.out(f"Created tag '{a.tag}' at {commit}")
    return 0


def tag_list(ctx: Context) -> int:
    tags = list(ctx.client().list_tags(ctx.args.repo, ctx.args.prefix))
    if ctx.json:
        ctx.emit_json(tags)
    else:
        ctx.out(
            render.table(
                ("TAG", "COMMIT"), [(t.get("id", ""), t.get("commit_id", "")) for t in tags]
            )
        )
    return 0


def tag_delete(ctx: Context) -> int:
    a = ctx.args
    ctx.client().delete_tag(a.repo, a.tag)
    if ctx.json:
        ctx.emit_json({"repository": a.repo, "tag": a.tag, "deleted": True})
    else:
        ctx.out(f"Deleted tag '{a.tag}'")
    return 0

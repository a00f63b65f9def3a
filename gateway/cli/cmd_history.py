"""History commands: ``commit``, ``log``, ``show``, ``diff``, ``merge``, ``revert``,
``cherry-pick``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from gateway.cli import render
from gateway.cli.context import (
    CliError,
    Context,
    Parser,
    add_command,
    key_value,
    positive,
    resolution,
)
from gateway.client.api import ApiError


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    p = add_command(
        sub,
        "commit",
        help="commit a branch's uncommitted changes",
        description="Record the uncommitted changes of BRANCH as a new commit. With --path, "
        "commit only those paths (a path ending in '/' is a prefix); the rest stay uncommitted.",
        examples="""
  weir commit analytics main -m "Load October data"
  weir commit analytics main -m "Nightly" --meta job=etl-42 --meta source=kafka
  weir commit analytics main -m "Only the reports" --path reports/
  weir commit models main -m "Train" --input datasets@main:train/ --meta git=3f2a9c1
""",
        handler=commit,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("branch", metavar="BRANCH", help="branch name")
    p.add_argument("-m", "--message", required=True, metavar="MSG", help="commit message")
    p.add_argument(
        "--meta",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="commit metadata (repeatable)",
    )
    p.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="PATH",
        help="commit only this path or prefix/ (repeatable)",
    )
    p.add_argument("--allow-empty", action="store_true", help="commit even with no changes")
    _input_option(p)

    p = add_command(
        sub,
        "log",
        help="show the commit history of a ref",
        description="List commits reachable from REF, newest first. With --path, only commits "
        "that changed that object (or anything under it, for a PATH ending in '/').",
        examples="""
  weir log analytics main
  weir log analytics main --limit 5 --oneline
  weir log analytics main --path reports/ --path config.yaml
""",
        handler=log,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("ref", metavar="REF", help="branch, tag, commit id or expression")
    p.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="PATH",
        help="only commits touching PATH (a prefix when it ends in '/'); repeatable",
    )
    p.add_argument("--limit", "-n", type=positive, metavar="N", help="show at most N commits")
    p.add_argument("--first-parent", action="store_true", help="follow only first parents")
    p.add_argument("--oneline", action="store_true", help="one line per commit")

    p = add_command(
        sub,
        "show",
        help="show one commit",
        description="Show the commit REF resolves to: id, parents, committer, date, metadata "
        "and message.",
        examples="""
  weir show analytics main
  weir show analytics v1.0 --json
  weir show analytics main~2
""",
        handler=show,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("ref", metavar="REF", help="branch, tag, commit id or expression like main~1")

    p = add_command(
        sub,
        "diff",
        help="compare two refs, or show a branch's uncommitted changes",
        description="With LEFT and RIGHT: the committed changes RIGHT has relative to its merge "
        "base with LEFT (what merging RIGHT into LEFT would bring), or, with --two-dot, LEFT "
        "compared with RIGHT directly. With one BRANCH: its uncommitted changes.",
        examples="""
  weir diff analytics main experiment
  weir diff analytics main experiment --two-dot --prefix reports/
  weir diff analytics experiment            # uncommitted changes
""",
        handler=diff,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("left", metavar="LEFT", help="ref (or the branch, when RIGHT is omitted)")
    p.add_argument("right", metavar="RIGHT", nargs="?", help="ref to compare LEFT with")
    p.add_argument("--two-dot", action="store_true", help="compare LEFT and RIGHT directly")
    p.add_argument("--prefix", default="", help="only paths under PREFIX")

    p = add_command(
        sub,
        "merge",
        help="merge a ref into a branch",
        description="Three-way merge of SOURCE (any ref) into branch DEST. Conflicting paths are "
        "printed as a table and the command exits 1, changing nothing. Settle conflicts with "
        "--strategy for all of them, or --resolve GLOB=source|dest per path pattern (first "
        "matching pattern wins; patterns take precedence over --strategy).",
        examples="""
  weir merge analytics experiment main -m "Adopt experiment"
  weir merge analytics experiment main --strategy source-wins
  weir merge analytics experiment main --resolve 'reports/*=source' --resolve '*.yaml=dest'
""",
        handler=merge,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("source", metavar="SOURCE", help="ref to merge from")
    p.add_argument("dest", metavar="DEST", help="branch to merge into")
    p.add_argument("-m", "--message", default="", metavar="MSG", help="merge commit message")
    p.add_argument(
        "--meta",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="merge commit metadata (repeatable)",
    )
    p.add_argument(
        "--strategy",
        choices=("source-wins", "dest-wins"),
        help="settle every conflict in favour of one side",
    )
    p.add_argument(
        "--resolve",
        type=resolution,
        action="append",
        default=[],
        metavar="GLOB=SIDE",
        help="settle conflicts on paths matching GLOB with SIDE (source or dest); repeatable",
    )
    _input_option(p)

    for name, verb, handler in (
        ("revert", "undo", revert),
        ("cherry-pick", "apply", cherry_pick),
    ):
        what = "the inverse of" if name == "revert" else "the changes of"
        p = add_command(
            sub,
            name,
            help=f"{verb} a commit's changes on a branch as a new commit",
            description=f"Commit {what} commit REF onto BRANCH. For a merge commit, --parent N "
            "says which parent (1-based) the change is measured against. BRANCH must have no "
            "uncommitted changes; a conflict is printed as a table and exits 1.",
            examples=f"""
  weir {name} analytics main 3f2a9c1e
  weir {name} analytics main main~1 --parent 1
""",
            handler=handler,
        )
        p.add_argument("repo", metavar="REPO", help="repository name")
        p.add_argument("branch", metavar="BRANCH", help="branch name")
        p.add_argument("ref", metavar="REF", help="the commit")
        p.add_argument("--parent", type=positive, default=0, metavar="N", help="parent number")


def _input_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="REPO@REF[:PATH]",
        help="record what the commit was built from (lineage; resolved to a commit id now, "
        "hashed into the commit); repeatable",
    )


def _show_commit(ctx: Context, c: Any, headline: str) -> None:
    if ctx.json:
        ctx.emit_json(c)
        return
    if headline:
        ctx.note(headline)
    ctx.out(render.commit(c) if isinstance(c, dict) else str(c))


def commit(ctx: Context) -> int:
    a = ctx.args
    c = ctx.client().commit(
        a.repo,
        a.branch,
        a.message,
        dict(a.meta),
        paths=a.path,
        allow_empty=a.allow_empty,
        inputs=a.input,
    )
    _show_commit(ctx, c, f"Committed to '{a.branch}'")
    return 0


def log(ctx: Context) -> int:
    a = ctx.args
    objects = [p for p in a.path if not p.endswith("/")]
    prefixes = [p for p in a.path if p.endswith("/")]
    commits = ctx.client().log(
        a.repo,
        a.ref,
        objects=objects,
        prefixes=prefixes,
        first_parent=a.first_parent,
        limit=a.limit,
    )
    if ctx.json:
        ctx.emit_json(list(commits))
        return 0
    for i, c in enumerate(commits):
        if a.oneline:
            ctx.out(render.commit_oneline(c))
        else:
            ctx.out(("\n" if i else "") + render.commit(c))
    return 0


def show(ctx: Context) -> int:
    _show_commit(ctx, ctx.client().get_commit(ctx.args.repo, ctx.args.ref), "")
    return 0


def diff(ctx: Context) -> int:
    a = ctx.args
    client = ctx.client()
    if a.right is None:
        changes = list(client.diff_uncommitted(a.repo, a.left, a.prefix))
        what = f"uncommitted change(s) on '{a.left}'"
    else:
        changes = list(
            client.diff_refs(a.repo, a.left, a.right, two_dot=a.two_dot, prefix=a.prefix)
        )
        what = f"change(s) between '{a.left}' and '{a.right}'"
    if ctx.json:
        ctx.emit_json(changes)
        return 0
    text, count = render.diff(changes)
    ctx.out(text)
    ctx.note(f"{count} {what}")
    return 0


def _conflict_guard(ctx: Context, action: str, call: Callable[[], Any]) -> Any:
    """Run ``call``; on a 409 that lists conflicts, print them and exit 1."""
    try:
        return call()
    except ApiError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        items = body.get("conflicts")
        if exc.status != 409 or not isinstance(items, list):
            raise
        if ctx.json:
            ctx.emit_json(body)
        else:
            ctx.out(render.conflicts(items))
        raise CliError(
            f"{action} stopped with {len(items)} conflict(s); nothing was changed "
            "(settle them with --strategy or --resolve GLOB=source|dest)"
            if action.startswith("merge")
            else f"{action} stopped with {len(items)} conflict(s); nothing was changed"
        ) from None


def merge(ctx: Context) -> int:
    a = ctx.args
    client = ctx.client()
    result = _conflict_guard(
        ctx,
        f"merge of '{a.source}' into '{a.dest}'",
        lambda: client.merge(
            a.repo,
            a.source,
            a.dest,
            message=a.message,
            metadata=dict(a.meta),
            strategy=a.strategy or "",
            resolutions=a.resolve,
            inputs=a.input,
        ),
    )
    if ctx.json:
        ctx.emit_json(result)
    else:
        ref = result.get("reference", "") if isinstance(result, dict) else ""
        ctx.out(f"Merged '{a.source}' into '{a.dest}': {ref}")
    return 0


def revert(ctx: Context) -> int:
    a = ctx.args
    client = ctx.client()
    _conflict_guard(
        ctx,
        f"revert of '{a.ref}' on '{a.branch}'",
        lambda: client.revert(a.repo, a.branch, a.ref, a.parent),
    )
    _show_commit(ctx, client.get_commit(a.repo, a.branch), f"Reverted '{a.ref}' on '{a.branch}'")
    return 0


def cherry_pick(ctx: Context) -> int:
    a = ctx.args
    client = ctx.client()
    c = _conflict_guard(
        ctx,
        f"cherry-pick of '{a.ref}' onto '{a.branch}'",
        lambda: client.cherry_pick(a.repo, a.branch, a.ref, a.parent),
    )
    _show_commit(ctx, c, f"Cherry-picked '{a.ref}' onto '{a.branch}'")
    return 0

"""Isolated runs: ``weir run``, ``weir runs list|show``, ``weir rerun``.

``weir run`` starts a run, runs COMMAND as a child process with the run credential in the
standard S3 environment variables, forwards SIGINT/SIGTERM/SIGHUP to it, renews the credential
while it runs, and finishes the run with the child's exit status, which becomes its own.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from gateway.cli import render
from gateway.cli.context import (
    CliError,
    Context,
    Parser,
    UsageError,
    add_command,
    add_group,
    positive,
)
from gateway.client.api import ApiError, Json
from gateway.client.runs import Heartbeat, RunHandle, RunsApi, git_info, renew_interval, s3_endpoint

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="source", default="", metavar="BRANCH", help="source branch")
    p.add_argument("--name", default="", help="run name (branch runs/NAME; default: the run id)")
    p.add_argument(
        "--merge", action="store_true", help="merge the run branch into BRANCH on success"
    )
    p.add_argument(
        "--discard-on-failure",
        action="store_true",
        help="delete the run branch and record when the command fails",
    )
    p.add_argument(
        "--pin",
        action="append",
        default=[],
        metavar="REPO@REF",
        help="read REPO (or REPO/BRANCH) at REF instead of its start state; repeatable",
    )
    p.add_argument(
        "--ttl", type=positive, metavar="SECONDS", help="credential lifetime per renewal"
    )


#: The options of ``weir run`` given after REPO (argparse leaves them in the remainder).
_OPTIONS = Parser(prog="weir run", add_help=False)
_run_options(_OPTIONS)


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    p = add_command(
        sub,
        "run",
        help="run a command as an isolated, recorded run",
        description="Create the run branch runs/<NAME> from BRANCH (default: the repository's "
        "default branch) and run COMMAND with a temporary credential in AWS_ACCESS_KEY_ID, "
        "AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL(_S3) and AWS_REGION. The job keeps its paths: "
        "s3://REPO/BRANCH/... is the run branch, every other branch reads as it was when the run "
        "started (or as --pin says). On exit 0 the run branch is committed with what the job "
        "read (commits and exact paths) and merged into BRANCH with --merge; otherwise BRANCH "
        "is untouched and the run is kept as failed. Exits with COMMAND's exit status.",
        examples="""
  weir run models -- python train.py
  weir run analytics --from main --name nightly-42 --merge -- spark-submit etl.py
  weir run models --pin data@v1 -- python train.py
""",
        handler=run_command,
    )
    p.add_argument("repo", metavar="REPO", help="the repository the job writes to")
    _run_options(p)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]")

    p = add_command(
        sub,
        "rerun",
        help="run a finished run's command again, every read pinned, and compare outputs",
        description="Start a new run from RUN's start commit with every read pinned to the "
        "commit RUN read, run RUN's recorded command, and report per output path whether the "
        "bytes are the same, differ, are missing or are new. Exits 0 when every output is "
        "identical, 1 when not, or the command's status when it fails.",
        examples="""
  weir rerun 019a2b3c4d5e6f7a8b
  weir rerun 019a2b3c4d5e6f7a8b --json
""",
        handler=rerun_command,
    )
    p.add_argument("run", metavar="RUN", help="run id")
    p.add_argument("--name", default="", help="name of the new run")
    p.add_argument(
        "--ttl", type=positive, metavar="SECONDS", help="credential lifetime per renewal"
    )

    _, group = add_group(sub, "runs", help="list and show runs", description="Runs of `weir run`.")
    p = add_command(
        group,
        "list",
        help="list runs, newest first",
        description="List runs of REPO (or every run you may see), newest first.",
        examples="""
  weir runs list
  weir runs list models --limit 20 --json
""",
        handler=list_runs,
    )
    p.add_argument("repo", nargs="?", default="", metavar="REPO", help="repository name")
    p.add_argument("--limit", "-n", type=positive, metavar="N", help="show at most N runs")
    p = add_command(
        group,
        "show",
        help="show a run: status, command, timings, inputs and outputs",
        description="Show RUN: its status, command, user, timings, git commit, inputs (per "
        "repository the commit read and how many paths) and outputs (the paths it changed).",
        examples="""
  weir runs show 019a2b3c4d5e6f7a8b
  weir runs show 019a2b3c4d5e6f7a8b --json
""",
        handler=show_run,
    )
    p.add_argument("run", metavar="RUN", help="run id")


def _command(args: argparse.Namespace) -> list[str]:
    """COMMAND from the remainder after REPO; options before ``--`` are parsed into ``args``."""
    rest = list(args.command)
    command = rest
    if rest and rest[0].startswith("-"):
        if rest[0] != "--" and "--" not in rest:
            raise UsageError(
                "put options before '--': weir run REPO [OPTIONS] -- COMMAND", "weir run"
            )
        cut = rest.index("--")
        options, command = rest[:cut], rest[cut + 1 :]
        if options:
            # Only flags not given before REPO: their defaults must not overwrite those.
            given = _OPTIONS.parse_args(options)
            for key, value in vars(given).items():
                if value != _OPTIONS.get_default(key):
                    setattr(args, key, value)
    if not command:
        raise UsageError(
            "no command given: weir run REPO [OPTIONS] -- COMMAND [ARGS...]", "weir run"
        )
    return command


def run_command(ctx: Context) -> int:
    args = ctx.args
    command = _command(args)
    api = RunsApi(ctx.client())
    started = api.start(
        args.repo,
        command,
        source_branch=args.source,
        name=args.name,
        pins=args.pin,
        merge=args.merge,
        discard_on_failure=args.discard_on_failure,
        ttl_seconds=args.ttl,
        git=git_info(),
    )
    return _execute_and_finish(ctx, api, started, command, compare=False)


def rerun_command(ctx: Context) -> int:
    api = RunsApi(ctx.client())
    started = api.rerun(ctx.args.run, name=ctx.args.name, ttl_seconds=ctx.args.ttl, git=git_info())
    return _execute_and_finish(ctx, api, started, list(started["command"]), compare=True)


def _execute_and_finish(
    ctx: Context, api: RunsApi, started: Json, command: list[str], *, compare: bool
) -> int:
    handle = RunHandle.from_started(started, s3_endpoint(api.client.endpoint))
    ctx.note(
        f"weir: run {handle.id}: {handle.repository}/{handle.branch} -> {handle.run_branch} "
        f"(from {str(started['start_commit'])[:12]})"
    )
    status, error = _execute(ctx, api, handle, started, command)
    try:
        done = api.finish(handle.id, status, error)
    except ApiError as exc:
        raise CliError(f"run {handle.id}: finishing failed: {exc.message}", status or 1) from exc
    if ctx.json and not compare:
        ctx.emit_json(done)
    if done.get("status") != "succeeded":
        ctx.note(f"weir: run {handle.id} {done.get('status')}: {done.get('error')}")
        return status or 1
    if not ctx.json:
        ctx.out(_summary(done))
    if done.get("conflicts"):
        ctx.out(render.conflicts(done["conflicts"]))
        raise CliError(
            f"{done.get('error')}; the run branch {done['run_branch']} is kept (commit "
            f"{str(done.get('result_commit'))[:12]})"
        )
    if done.get("error"):
        raise CliError(str(done["error"]))
    if compare:
        return _report(ctx, api, done)
    return 0


def _execute(
    ctx: Context, api: RunsApi, handle: RunHandle, started: Json, command: list[str]
) -> tuple[int, str]:
    """Run the child; returns (exit status as a shell reports it, error text)."""
    try:
        child = subprocess.Popen(command, env=handle.env(ctx.env))
    except OSError as exc:
        return (
            127 if isinstance(exc, FileNotFoundError) else 126
        ), f"cannot run {command[0]}: {exc}"
    forwarded: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        forwarded.append(signum)
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    with (
        _signals_forwarded(forward),
        Heartbeat(api, handle.id, renew_interval(started, time.time())),
    ):
        rc = child.wait()
    if rc < 0:
        name = signal.Signals(-rc).name
        return 128 - rc, f"the command was killed by {name}"
    if forwarded:
        names = ", ".join(sorted({signal.Signals(s).name for s in forwarded}))
        return rc, f"the command exited with status {rc} after {names}"
    return rc, ""


@contextlib.contextmanager
def _signals_forwarded(handler: Any) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are delivered to the main thread only; nothing to forward from here
        return
    old = {s: signal.signal(s, handler) for s in FORWARDED}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _summary(run: Json) -> str:
    lines = [
        f"run {run['id']} succeeded: commit {str(run['result_commit'])[:12]} on "
        f"{run['repository']}/{run['run_branch']}"
    ]
    for i in run.get("inputs") or []:
        refs = ",".join(i.get("refs") or [])
        lines.append(
            f"  input  {i['repository']}@{str(i['commit'])[:12]} ({refs}): {i['paths']} path(s)"
        )
    if run.get("merge_commit"):
        lines.append(f"  merged into {run['source_branch']}: {str(run['merge_commit'])[:12]}")
    return "\n".join(lines)


def _report(ctx: Context, api: RunsApi, run: Json) -> int:
    rows = list(api.comparison(run["id"]))
    counts = run.get("comparison") or {}
    if ctx.json:
        ctx.emit_json({"run": run, "comparison": rows, "summary": counts})
    else:
        table_rows = [
            (r["verdict"].upper(), r["path"], _etag(r.get("original")), _etag(r.get("rerun")))
            for r in rows
        ]
        ctx.out(render.table(("VERDICT", "PATH", "ORIGINAL", "RERUN"), table_rows))
        summary = ", ".join(
            f"{counts.get(k, 0)} {k}" for k in ("same", "differs", "missing", "new")
        )
        ctx.out(f"rerun of {run['rerun_of']}: {summary}")
    identical = all(r["verdict"] == "same" for r in rows)
    return 0 if identical else 1


def _etag(side: Any) -> str:
    if not isinstance(side, dict):
        return "(absent)"
    return str(side.get("checksum") or "")[:12]


def list_runs(ctx: Context) -> int:
    runs = list(RunsApi(ctx.client()).list(ctx.args.repo, limit=ctx.args.limit))
    if ctx.json:
        ctx.emit_json(runs)
        return 0
    rows = [
        (
            r["id"],
            r["name"] if r["name"] != r["id"] else "",
            r["repository"],
            r["status"],
            render.when(r.get("started")),
            "" if r.get("exit_status") is None else str(r["exit_status"]),
            _short(" ".join(r.get("command") or [])),
        )
        for r in runs
    ]
    ctx.out(render.table(("ID", "NAME", "REPO", "STATUS", "STARTED", "EXIT", "COMMAND"), rows))
    return 0


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def show_run(ctx: Context) -> int:
    api = RunsApi(ctx.client())
    run = api.get(ctx.args.run)
    outputs = list(api.outputs(run["id"])) if run.get("result_commit") else []
    if ctx.json:
        ctx.emit_json({**run, "outputs": outputs})
        return 0
    ctx.out(_details(run, outputs))
    return 0


def _details(run: Json, outputs: Sequence[Json]) -> str:
    ended = run.get("ended")
    took = f"{float(ended) - float(run['started']):.1f}s" if ended else "-"
    git = run.get("git") or {}
    lines = [
        f"run       {run['id']}" + (f" ({run['name']})" if run["name"] != run["id"] else ""),
        f"status    {run['status']}" + (f": {run['error']}" if run.get("error") else ""),
        f"command   {' '.join(run.get('command') or [])}",
        f"user      {run['user']}",
        f"branch    {run['repository']}/{run['source_branch']} -> {run['run_branch']}",
        f"start     {run['start_commit']}",
        f"started   {render.when(run.get('started'))}   ended {render.when(ended)}   took {took}",
        f"exit      {'' if run.get('exit_status') is None else run['exit_status']}",
    ]
    if git:
        lines.append(f"git       {git.get('commit')}{' (dirty)' if git.get('dirty') else ''}")
    if run.get("rerun_of"):
        lines.append(f"rerun of  {run['rerun_of']}  {run.get('comparison') or {}}")
    if run.get("result_commit"):
        lines.append(f"commit    {run['result_commit']}")
    if run.get("merge_commit"):
        lines.append(f"merged    {run['merge_commit']}")
    for p in run.get("pins") or []:
        where = p["repository"] + (f"/{p['branch']}" if p.get("branch") else "")
        lines.append(f"pin       {where}@{p['ref']} = {p['commit']}")
    lines.append("")
    lines.append("inputs")
    rows = [
        (i["repository"], i["commit"][:12], ",".join(i.get("refs") or []), str(i["paths"]))
        for i in run.get("inputs") or []
    ]
    lines.append(render.table(("REPO", "COMMIT", "AS", "PATHS"), rows).rstrip("\n"))
    lines.append("")
    lines.append("outputs")
    table, _ = render.diff(outputs)
    lines.append(table.rstrip("\n"))
    return "\n".join(lines)

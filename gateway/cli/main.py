"""The ``weir`` command line. ``weir serve`` runs the server; other commands talk to one.

Every client command reports failure as one line on stderr (``weir: error: ...``) and an exit
code: 1 the operation failed (including a conflicted merge), 2 usage, 3 cannot connect or
authenticate. ``WEIR_DEBUG=1`` adds the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import TextIO

from gateway import __version__
from gateway.cli import (
    cmd_audit,
    cmd_auth,
    cmd_blame,
    cmd_db,
    cmd_gc,
    cmd_history,
    cmd_import,
    cmd_lineage,
    cmd_objects,
    cmd_refs,
    cmd_repo,
    cmd_runs,
)
from gateway.cli.context import CliError, Context, Parser, UsageError, global_options, wrap
from gateway.client.api import ApiError, ConnectionFailed

EPILOG = """\
Getting started:
  weir login                                   # save endpoint and access key
  weir repo create analytics
  weir upload analytics main ./data.csv data/data.csv
  weir commit analytics main -m "First data"
  weir branch create analytics experiment
  weir merge analytics experiment main

Connection settings come from --endpoint/--access-key-id/--secret-access-key, else
WEIR_ENDPOINT/WEIR_ACCESS_KEY_ID/WEIR_SECRET_ACCESS_KEY, else the file written by
'weir login' ($WEIR_CONFIG or ~/.config/weir/config.toml).

Exit codes: 0 ok, 1 operation failed (e.g. merge conflict), 2 usage error,
3 cannot connect or authenticate. WEIR_DEBUG=1 shows tracebacks.
Run 'weir COMMAND --help' for each command's options and examples.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="weir",
        description=wrap(
            "Weir: Git semantics under S3. Branch, commit and merge a data lake; "
            "every S3 client reads s3://REPO/REF/PATH."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"weir {__version__}")
    global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    serve = sub.add_parser("serve", help="run the Weir server (S3 at /, admin API at /api/v1)")
    serve.add_argument("--listen", help="HOST:PORT to listen on (default 127.0.0.1:8000)")
    serve.add_argument("--data-dir", help="directory for metadata and blobs (default ./data)")
    serve.add_argument("--config", help="TOML config file (default: none)")
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes on the one port (default: server.workers, 0 = one per core)",
    )
    serve.add_argument(
        "--single-process",
        action="store_true",
        help="serve in this process, without the supervisor (profilers, debuggers)",
    )
    cmd_auth.register(sub)
    cmd_repo.register(sub)
    cmd_refs.register(sub)
    cmd_history.register(sub)
    cmd_objects.register(sub)
    cmd_blame.register(sub)
    cmd_lineage.register(sub)
    cmd_audit.register(sub)
    cmd_gc.register(sub)
    cmd_import.register(sub)
    cmd_runs.register(sub)
    cmd_db.register(sub)
    return parser


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """Built once per process: parsing does not modify the parser, and building it is the
    slowest part of a short command."""
    return build_parser()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _api_error(exc: ApiError) -> tuple[str, int]:
    if exc.status == 401:
        return (
            f"authentication failed: {exc.message} (HTTP 401); check the access key "
            "(weir login, or WEIR_ACCESS_KEY_ID/WEIR_SECRET_ACCESS_KEY)",
            3,
        )
    return f"{exc.message} (HTTP {exc.status})", 1


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run one ``weir`` command and return its exit code.

    The stream and environment arguments default to the process's own; tests pass their own
    to run commands in-process.
    """
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    environ = os.environ if env is None else env
    debug = environ.get("WEIR_DEBUG", "") not in ("", "0")
    parser = _parser()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except UsageError as exc:
        hint = f"{exc.prog} --help"
        where = exc.prog.removeprefix("weir").strip()
        err.write(
            f"weir: error: {where + ': ' if where else ''}{_one_line(exc.message)} (see '{hint}')\n"
        )
        return 2
    if args.command == "serve":
        # Imported lazily: client commands must not pay for loading the server.
        server = importlib.import_module("gateway.server")
        return int(server.serve_from_args(args))
    if args.command is None:
        out.write(parser.format_help())
        return 2
    ctx = Context(args=args, stdout=out, stderr=err, stdin=stdin or sys.stdin, env=environ)
    message, code = "", 0
    failure: BaseException | None = None
    try:
        code = int(args.handler(ctx))
    except UsageError as exc:
        failure = exc
        message, code = exc.message, 2
    except CliError as exc:
        failure = exc
        message, code = exc.message, exc.code
    except ApiError as exc:
        failure = exc
        message, code = _api_error(exc)
    except ConnectionFailed as exc:
        failure = exc
        message, code = str(exc), 3
    except KeyboardInterrupt:
        message, code = "interrupted", 130
    except BrokenPipeError:
        # The reader went away (weir cat ... | head): stop quietly, as other tools do.
        if out is sys.stdout:
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        failure = exc
        message, code = f"internal error: {type(exc).__name__}: {exc}", 1
        if not debug:
            message += " (set WEIR_DEBUG=1 for a traceback)"
    if message:
        if debug and failure is not None:
            traceback.print_exception(failure, file=err)
        with contextlib.suppress(OSError, ValueError):
            out.flush()
        err.write(f"weir: error: {_one_line(message)}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())

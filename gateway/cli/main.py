"""The ``weir`` command line. ``weir serve`` runs the server; other commands talk to one."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="weir", description="Weir: Git semantics under S3.")
    parser.add_argument("--version", action="version", version=f"weir {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the Weir server (S3 at /, admin API at /api/v1)")
    serve.add_argument("--listen", help="HOST:PORT to listen on (default 127.0.0.1:8000)")
    serve.add_argument("--data-dir", help="directory for metadata and blobs (default ./data)")
    serve.add_argument("--config", help="TOML config file (default: none)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        from gateway.server import serve_from_args

        return serve_from_args(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""A worker process of ``weir serve --workers N`` (started by the supervisor, never by hand).

Arguments name its slot, the inherited listening socket and status pipe, and the run directory;
the resolved settings arrive as JSON on stdin. Exit status: 0 after a drain, 1 when it could not
start (the error is printed as one ``weir: error:`` line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from pathlib import Path

from gateway.auth.crypto import SecretKeyError
from gateway.config import settings_from_dict
from gateway.core.errors import WeirError
from gateway.workers.peers import WorkerIdentity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="weir-worker")
    parser.add_argument("--slot", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--starts", type=int, required=True)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--status-fd", type=int, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    from gateway import server

    try:
        settings = settings_from_dict(json.loads(sys.stdin.buffer.read()))
        server.configure_logging(settings)
        sock = socket.socket(fileno=args.listen_fd)
        identity = WorkerIdentity(args.slot, args.workers, args.starts, args.run_dir)
        asyncio.run(server.serve_worker(settings, sock, identity, args.status_fd))
    except WeirError as exc:
        print(f"weir: error: worker {args.slot}: {exc.message}", file=sys.stderr, flush=True)
        return 1
    except (OSError, SecretKeyError, ValueError) as exc:
        print(f"weir: error: worker {args.slot}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

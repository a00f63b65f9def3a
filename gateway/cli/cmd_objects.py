"""Object commands: ``ls``, ``cat``, ``upload``, ``download``, ``rm``.

Bodies are streamed in 1 MiB chunks in both directions; nothing holds a whole object.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from gateway.cli import render
from gateway.cli.context import CliError, Context, Parser, add_command, key_value, positive
from gateway.cli.progress import ProgressBar, wanted
from gateway.client.api import CHUNK_SIZE

_MD5 = re.compile(r"^[0-9a-f]{32}$")


class LocalFileError(Exception):
    """Reading the local file failed mid-upload (kept apart from network errors)."""


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    p = add_command(
        sub,
        "ls",
        help="list objects under a prefix",
        description="List objects and sub-directories ('common prefixes', shown as DIR) of REF "
        "under PREFIX, like 'ls'. With --recursive, every object under PREFIX.",
        examples="""
  weir ls analytics main
  weir ls analytics main reports/2026/
  weir ls analytics v1.0 reports/ --recursive --json
""",
        handler=ls,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("ref", metavar="REF", help="branch (with uncommitted changes), tag or commit")
    p.add_argument("prefix", metavar="PREFIX", nargs="?", default="", help="e.g. reports/")
    p.add_argument("-r", "--recursive", action="store_true", help="list all objects below")
    p.add_argument("--limit", type=positive, metavar="N", help="show at most N entries")

    p = add_command(
        sub,
        "cat",
        help="write an object's content to stdout",
        description="Stream the object at PATH of REF to standard output.",
        examples="""
  weir cat analytics main config.yaml
  weir cat analytics main~1 data/part-0.csv | head
""",
        handler=cat,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("ref", metavar="REF", help="branch, tag, commit id or expression like main~1")
    p.add_argument("path", metavar="PATH", help="object path")

    p = add_command(
        sub,
        "upload",
        help="upload a local file to a branch",
        description="Stream LOCAL ('-' for stdin) to PATH on BRANCH, as an uncommitted change. "
        "A progress bar is drawn on stderr for files of 4 MiB or more when stderr is a terminal, "
        "or always with --progress.",
        examples="""
  weir upload analytics main ./october.parquet data/2026-10.parquet
  weir upload analytics main big.bin raw/big.bin --progress
  weir upload analytics main notes.txt docs/notes.txt --content-type text/plain --meta owner=ana
  gzip -c log.txt | weir upload analytics main - logs/log.txt.gz
""",
        handler=upload,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("branch", metavar="BRANCH", help="branch name")
    p.add_argument("local", metavar="LOCAL", help="local file, or '-' for stdin")
    p.add_argument("path", metavar="PATH", help="object path in the branch")
    p.add_argument(
        "--content-type",
        default="application/octet-stream",
        metavar="TYPE",
        help="stored Content-Type (default application/octet-stream)",
    )
    p.add_argument(
        "--meta",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="user metadata (repeatable)",
    )
    p.add_argument("--if-absent", action="store_true", help="fail if PATH already exists")
    p.add_argument("--progress", action="store_true", help="always draw a progress bar")

    p = add_command(
        sub,
        "download",
        help="download an object to a local file",
        description="Stream PATH of REF to LOCAL ('-' for stdout; a directory keeps the object's "
        "name). The file appears only when complete, and its MD5 is checked against the "
        "object's ETag when that is a plain MD5. Progress as for upload.",
        examples="""
  weir download analytics main data/2026-10.parquet ./october.parquet
  weir download analytics v1.0 raw/big.bin . --progress
""",
        handler=download,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("ref", metavar="REF", help="branch, tag, commit id or expression like main~1")
    p.add_argument("path", metavar="PATH", help="object path")
    p.add_argument("local", metavar="LOCAL", help="local file or directory, or '-' for stdout")
    p.add_argument("--progress", action="store_true", help="always draw a progress bar")

    p = add_command(
        sub,
        "rm",
        help="delete objects from a branch",
        description="Delete PATH(s) from BRANCH, as an uncommitted change.",
        examples="""
  weir rm analytics experiment tmp/scratch.csv
""",
        handler=rm,
    )
    p.add_argument("repo", metavar="REPO", help="repository name")
    p.add_argument("branch", metavar="BRANCH", help="branch name")
    p.add_argument("paths", metavar="PATH", nargs="+")


def ls(ctx: Context) -> int:
    a = ctx.args
    delimiter = "" if a.recursive else "/"
    items = list(ctx.client().list_objects(a.repo, a.ref, a.prefix, delimiter, a.limit))
    if ctx.json:
        ctx.emit_json(items)
    else:
        ctx.out(render.objects(items))
    return 0


def cat(ctx: Context) -> int:
    a = ctx.args
    out = ctx.binary_stdout()
    with ctx.client().open_object(a.repo, a.ref, a.path) as dl:
        for chunk in dl.chunks():
            out.write(chunk)
    out.flush()
    return 0


def _read(fh: IO[bytes], size: int | None) -> Iterator[bytes]:
    """Chunks of ``fh``: exactly ``size`` bytes when given (the Content-Length promised)."""
    left = size
    while left is None or left > 0:
        want = CHUNK_SIZE if left is None else min(CHUNK_SIZE, left)
        try:
            chunk = fh.read(want)
        except OSError as exc:
            raise LocalFileError(f"cannot read local file: {exc.strerror or exc}") from None
        if not chunk:
            if left:
                raise LocalFileError("local file shrank while uploading")
            return
        if left is not None:
            left -= len(chunk)
        yield chunk


def upload(ctx: Context) -> int:
    a = ctx.args
    client = ctx.client()
    with contextlib.ExitStack() as stack:
        if a.local == "-":
            fh: IO[bytes] = getattr(ctx.stdin, "buffer", None) or _no_binary_stdin()
            size: int | None = None
        else:
            try:
                fh = stack.enter_context(open(a.local, "rb"))
            except OSError as exc:
                raise CliError(f"cannot open {a.local!r}: {exc.strerror or exc}") from None
            st = os.fstat(fh.fileno())
            size = st.st_size if Path(a.local).is_file() else None
        bar = ProgressBar(a.path, size, ctx.stderr, wanted(a.progress, ctx.stderr, size))
        try:
            stats = client.upload_object(
                a.repo,
                a.branch,
                a.path,
                bar.wrap(_read(fh, size)),
                size=size,
                content_type=a.content_type,
                metadata=dict(a.meta),
                if_absent=a.if_absent,
            )
        except LocalFileError as exc:
            raise CliError(str(exc)) from None
        finally:
            bar.finish()
    if ctx.json:
        ctx.emit_json(stats)
    else:
        n = stats.get("size_bytes", bar.done) if isinstance(stats, dict) else bar.done
        ctx.out(f"Uploaded {a.path} ({render.size(n)}) to '{a.branch}'")
    return 0


def _no_binary_stdin() -> IO[bytes]:
    raise CliError("stdin cannot give binary data here; give a file name instead")


def _target(local: str, path: str) -> Path:
    target = Path(local)
    if target.is_dir():
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if not name:
            raise CliError(f"cannot derive a file name from {path!r}; give a file name")
        target = target / name
    return target


def download(ctx: Context) -> int:
    a = ctx.args
    with ctx.client().open_object(a.repo, a.ref, a.path) as dl:
        md5 = hashlib.md5(usedforsecurity=False) if _MD5.match(dl.etag) else None
        bar = ProgressBar(a.path, dl.size, ctx.stderr, wanted(a.progress, ctx.stderr, dl.size))
        if a.local == "-":
            out = ctx.binary_stdout()
            try:
                _copy(dl.chunks(), bar, out, md5)
            finally:
                bar.finish()
            out.flush()
            target = None
        else:
            target = _target(a.local, a.path)
            fd, tmp = _temp_beside(target)
            try:
                with os.fdopen(fd, "wb") as out:
                    try:
                        _copy(dl.chunks(), bar, out, md5)
                    finally:
                        bar.finish()
                _verify(bar.done, dl.size, md5, dl.etag)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
    if target is not None:
        if ctx.json:
            ctx.emit_json({"path": a.path, "file": str(target), "size_bytes": bar.done})
        else:
            ctx.out(f"Downloaded {a.path} ({render.size(bar.done)}) to {target}")
    return 0


def _temp_beside(target: Path) -> tuple[int, str]:
    try:
        return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise CliError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None


def _copy(
    chunks: Iterator[bytes], bar: ProgressBar, out: IO[bytes], md5: hashlib._Hash | None
) -> None:
    for chunk in bar.wrap(chunks):
        if md5 is not None:
            md5.update(chunk)
        try:
            out.write(chunk)
        except OSError as exc:
            raise CliError(f"cannot write local file: {exc.strerror or exc}") from None


def _verify(done: int, size: int | None, md5: hashlib._Hash | None, etag: str) -> None:
    if size is not None and done != size:
        raise CliError(f"download incomplete: got {done} of {size} bytes")
    if md5 is not None and md5.hexdigest() != etag:
        raise CliError(f"download corrupted: MD5 {md5.hexdigest()} does not match ETag {etag}")


def rm(ctx: Context) -> int:
    a = ctx.args
    client = ctx.client()
    for path in a.paths:
        client.delete_object(a.repo, a.branch, path)
        if not ctx.json:
            ctx.out(f"Deleted {path} from '{a.branch}'")
    if ctx.json:
        ctx.emit_json({"repository": a.repo, "branch": a.branch, "deleted": a.paths})
    return 0

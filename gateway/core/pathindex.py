"""The one-time migration of a store written before path history was generation-ordered.

Stores from before decision 0012 have a path index without generations (``keys.PATHLOG``) and
no first-parent chain links. ``migrate`` rewrites the former as ``keys.HISTORY`` keys and links
every commit, in bounded transactions, then records that it ran (``keys.engine_marker``). It is
idempotent: a crash half-way leaves a store that the next start migrates again from where the
old keys remain. Runs from ``Lake.sweep`` at server start, before any request is served.
"""

from __future__ import annotations

from collections.abc import Iterator

from gateway.core import chain, codec, committing, keys, tree
from gateway.core.ids import CommitId
from gateway.core.ports import KVReader, KVStore, KVWriter
from gateway.core.view import View

MARKER = keys.engine_marker("path-index")
VERSION = b"3"
#: Pending presigned uploads briefly kept under V/ (now keys.PRESIGNED): removed here.
_STRAY_PRESIGNED = (b"V/t/", b"V/e/", b"V/n")
BATCH = 500


async def migrate(kv: KVStore) -> int:
    """Bring the path index and chain links up to date; returns the records converted."""
    if await kv.read(lambda r: r.get(MARKER)) == VERSION:
        return 0
    done = 0
    repos = await kv.read(
        lambda r: [
            codec.decode_repository(v).name
            for _, v in r.scan(keys.REPO, keys.prefix_end(keys.REPO))
        ]
    )
    for repo in repos:
        done += await _link_repository(kv, repo)
    while True:
        converted = await kv.write(_convert_batch)
        done += converted
        if converted < BATCH:
            break
    await kv.write(_drop_stray_presigned)
    await kv.write(lambda w: w.put(MARKER, VERSION))
    return done


async def _link_repository(kv: KVStore, repo: str) -> int:
    """Give every commit of ``repo`` its chain link, BATCH commits per transaction."""
    base = keys.commits(repo)
    lo, end = base, keys.prefix_end(base)
    done = 0
    while True:

        def page(r: KVReader, start: bytes = lo) -> list[str]:
            return [k[len(base) :].decode("ascii") for k, _ in _take(r.scan(start, end), BATCH)]

        ids = await kv.read(page)
        if not ids:
            return done

        def link_all(w: KVWriter, batch: list[str] = ids) -> int:
            for cid in batch:
                chain.ensure_link(w, repo, cid)
            return len(batch)

        done += await kv.write(link_all)
        lo = keys.commit(repo, ids[-1]) + b"\x00"


def _take(it: Iterator[tuple[bytes, bytes]], n: int) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for item in it:
        out.append(item)
        if len(out) >= n:
            break
    return out


def _drop_stray_presigned(w: KVWriter) -> None:
    for prefix in _STRAY_PRESIGNED:
        for k, _ in list(w.scan(prefix, keys.prefix_end(prefix))):
            w.delete(k)


def _convert_batch(w: KVWriter) -> int:
    """Turn up to BATCH legacy path-index keys into history keys."""
    old = [k for k, _ in _take(w.scan(keys.PATHLOG, keys.prefix_end(keys.PATHLOG)), BATCH)]
    view = View(w)
    for k in old:
        body = k[len(keys.PATHLOG) :]
        repo_b, _, rest = body.partition(keys.SEP)
        repo, cid, path = repo_b.decode(), rest[-64:].decode("ascii"), rest[:-65].decode()
        raw = w.get(keys.commit(repo, cid))
        if raw is not None:
            c = codec.decode_commit(CommitId(cid), raw)
            deleted = tree.get(c.tree, path, view.nodes) is None
            w.put(
                keys.history(repo, path, c.generation, cid),
                committing.DELETED if deleted else b"",
            )
        w.delete(k)
    return len(old)

"""Rerun reports: are a rerun's outputs byte-identical to the original run's?

Both runs start from the same commit, so each one's outputs are the two-dot diff between that
start commit and its result commit. The two diffs are walked together in path order (paged,
bounded memory) and every path that either run changed is classified:

* ``same``: both runs left identical bytes (or both deleted it);
* ``differs``: both changed it, to different bytes;
* ``missing``: the original changed it, the rerun did not;
* ``new``: the rerun changed it, the original did not.

Byte identity: equal blob addresses are equal bytes (blake3); two single-blob entries with
different addresses differ; anything involving a multipart object of equal size is compared by
streaming both (its address names its part layout, not its bytes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from gateway.core.lake import Lake
from gateway.core.model import MANIFEST_PREFIX, Change, Entry

PAGE = 1000
VERDICTS = ("same", "differs", "missing", "new")


@dataclass(frozen=True, slots=True)
class Verdict:
    path: str
    verdict: str  # one of VERDICTS
    original: Entry | None
    rerun: Entry | None


async def _changes(
    lake: Lake, repo: str, start: str, result: str, after: str
) -> AsyncIterator[Change]:
    while True:
        page = await lake.diff(repo, start, result, after=after, limit=PAGE)
        for change in page.changes:
            yield change
        if not page.truncated or page.next_after is None:
            return
        after = page.next_after


async def same_bytes(lake: Lake, a: Entry | None, b: Entry | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if a.address == b.address:
        return True
    if a.size != b.size:
        return False
    if not a.address.startswith(MANIFEST_PREFIX) and not b.address.startswith(MANIFEST_PREFIX):
        return False
    left, right = lake.read_entry(a).__aiter__(), lake.read_entry(b).__aiter__()
    lbuf = rbuf = b""
    while True:
        if not lbuf:
            lbuf = await anext(left, b"")
        if not rbuf:
            rbuf = await anext(right, b"")
        if not lbuf or not rbuf:
            return not lbuf and not rbuf
        n = min(len(lbuf), len(rbuf))
        if lbuf[:n] != rbuf[:n]:
            return False
        lbuf, rbuf = lbuf[n:], rbuf[n:]


async def compare(
    lake: Lake,
    repo: str,
    start: str,
    original: str,
    rerun: str,
    *,
    after: str = "",
    limit: int | None = None,
) -> AsyncIterator[Verdict]:
    """Verdicts in path order for paths ``> after`` (at most ``limit``)."""
    ours = _changes(lake, repo, start, original, after).__aiter__()
    theirs = _changes(lake, repo, start, rerun, after).__aiter__()
    a = await anext(ours, None)
    b = await anext(theirs, None)
    n = 0
    while a is not None or b is not None:
        if limit is not None and n >= limit:
            return
        if b is None or (a is not None and a.path < b.path):
            assert a is not None
            yield Verdict(a.path, "missing", a.right, a.left)
            a = await anext(ours, None)
        elif a is None or b.path < a.path:
            yield Verdict(b.path, "new", b.left, b.right)
            b = await anext(theirs, None)
        else:
            same = await same_bytes(lake, a.right, b.right)
            yield Verdict(a.path, "same" if same else "differs", a.right, b.right)
            a = await anext(ours, None)
            b = await anext(theirs, None)
        n += 1


async def summary(lake: Lake, repo: str, start: str, original: str, rerun: str) -> dict[str, int]:
    counts = dict.fromkeys(VERDICTS, 0)
    async for v in compare(lake, repo, start, original, rerun):
        counts[v.verdict] += 1
    return counts

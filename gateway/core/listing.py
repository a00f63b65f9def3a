"""Reading a ref's state: staging overlaid on the committed tree, seeked, never scanned whole."""

from __future__ import annotations

from collections.abc import Iterator

from gateway.core import tree
from gateway.core.errors import ObjectNotFound
from gateway.core.ids import Path
from gateway.core.model import Entry, ResolvedRef
from gateway.core.view import View


def str_prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: no bound).

    Code-point order equals UTF-8 byte order, so this bound is valid for both."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:
                nxt = 0xE000
            return prefix[:-1] + chr(nxt)
        prefix = prefix[:-1]
    return None


def after_key(key: str) -> str:
    """The smallest path greater than ``key`` (paths never contain NUL)."""
    return key + "\x00"


def state_iter(
    view: View, repo: str, ref: ResolvedRef, start: str = "", end: str | None = None
) -> Iterator[tuple[str, Entry]]:
    """(path, entry) of the ref's visible state with ``start <= path < end``, in path order.

    For a branch (without ``@``) the staging area overrides the head tree; tombstones hide paths.
    Cost: O(log n) to seek plus O(1) amortised per row.
    """
    root = view.commit(repo, ref.commit).tree
    committed = tree.iterate(root, view.nodes, start, end)
    if ref.branch is None or ref.committed_only:
        yield from committed
        return
    token = ref.staging_token or view.branch(repo, ref.branch).staging_token
    staged = view.iter_staged(repo, token, start, end)
    c = next(committed, None)
    s = next(staged, None)
    while c is not None or s is not None:
        if s is None:
            assert c is not None
            yield c
            yield from committed  # nothing (more) staged in range: no merging per row
            return
        if c is not None and c[0] < s[0]:
            yield c
            c = next(committed, None)
            continue
        if c is not None and c[0] == s[0]:
            c = next(committed, None)
        if s[1] is not None:
            yield s[0], s[1]
        s = next(staged, None)


def stat(view: View, repo: str, ref: ResolvedRef, path: str) -> Entry:
    if ref.branch is not None and not ref.committed_only:
        token = ref.staging_token or view.branch(repo, ref.branch).staging_token
        hit, entry = view.staged(repo, token, path)
        if hit:
            if entry is None:
                raise ObjectNotFound(f"object {path!r} not found")
            return entry
    root = view.commit(repo, ref.commit).tree
    found = tree.get(root, path, view.nodes)
    if found is None:
        raise ObjectNotFound(f"object {path!r} not found")
    return found


def list_page(
    view: View,
    repo: str,
    ref: ResolvedRef,
    *,
    prefix: str,
    delimiter: str,
    after: str,
    limit: int,
) -> tuple[list[tuple[Path, Entry]], list[str], bool, str | None]:
    """One page of objects and common prefixes, ``key > after``, at most ``limit`` rows.

    With a delimiter each common prefix is emitted once and the iteration then seeks past every
    key under it, so a directory's cost does not depend on the size of its siblings.
    Returns (objects, prefixes, truncated, next_after).
    """
    objects: list[tuple[Path, Entry]] = []
    prefixes: list[str] = []
    end = str_prefix_end(prefix)
    start = prefix
    if after and after >= prefix:
        start = after_key(after)
    if limit <= 0:
        return objects, prefixes, False, None
    rows = 0
    last: str | None = None
    plen = len(prefix)
    while True:
        restart: str | None = None
        for path, entry in state_iter(view, repo, ref, start, end):
            if delimiter:
                idx = path.find(delimiter, plen)
                if idx >= 0:
                    cp = path[: idx + len(delimiter)]
                    nxt = str_prefix_end(cp)
                    if cp != after:
                        if rows == limit:
                            return objects, prefixes, True, last
                        prefixes.append(cp)
                        rows += 1
                        last = cp
                    if nxt is None:
                        return objects, prefixes, False, None
                    restart = nxt
                    break
            if rows == limit:
                return objects, prefixes, True, last
            objects.append((Path(path), entry))
            rows += 1
            last = path
        if restart is None:
            return objects, prefixes, False, None
        start = restart

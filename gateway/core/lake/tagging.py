"""Object tags: the S3 tag set of an entry, read and replaced on a branch.

Tags are part of the entry (``Entry.tags``), so they are staged, committed, versioned and
diffed with it: replacing them stages a copy of the current entry with the new tags (same
bytes, same ETag and Last-Modified, as S3 keeps them), in one metadata transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from gateway.core import keys, listing, staging
from gateway.core.lake.base import LakeBase
from gateway.core.model import Entry, RefKind, ResolvedRef
from gateway.core.ports import KVWriter
from gateway.core.view import View


class TaggingOps(LakeBase):
    """Replace the tags of an object on a branch (reads go through ``stat_object``)."""

    async def set_object_tags(
        self, repo: str, branch: str, path: str, tags: Mapping[str, str]
    ) -> Entry:
        """Stage the object at ``path`` with ``tags`` (an empty mapping removes them).

        Atomic: the current entry (staging over head) is read and restaged in one write
        transaction, so a concurrent PUT of the path is never undone. Raises ObjectNotFound,
        BranchNotFound, ReadOnlyRef (a tag or commit), ProtectedBranch.
        """
        new_tags = dict(tags)

        def fn(w: KVWriter) -> Entry:
            view = View(w)
            b = self._writable_branch(view, repo, branch)
            ref = ResolvedRef(
                kind=RefKind.BRANCH, commit=b.head, branch=b.name, staging_token=b.staging_token
            )
            current = listing.stat(view, repo, ref, path)
            if dict(current.tags) == new_tags:
                return current  # nothing changes: no staged write, no diff
            entry = dataclasses.replace(current, tags=new_tags)
            w.put(keys.staging(repo, b.staging_token) + path.encode("utf-8"), staging.encode(entry))
            view.bump_staging(repo, b.staging_token)
            return entry

        return await self.kv.write(fn)

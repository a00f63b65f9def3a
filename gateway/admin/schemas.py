"""Shaping domain records into lakeFS-compatible JSON.

The lakeFS SDK validates responses with strict pydantic types: dates and mtimes are ints, every
required field is present (also on common-prefix rows), ``parents`` is a list of strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.auth.grants import Grant
from gateway.auth.users import AccessKey, NewCredentials, User
from gateway.core.model import (
    Change,
    ChangeKind,
    Commit,
    Entry,
    PathConflict,
    Repository,
    user_metadata,
)
from gateway.lineage.inputs import input_json

JSON = dict[str, Any]

#: lakeFS compatibility level reported in ``/config``: lakefs-spec needs a numeric version
#: (``fs.touch`` requires >= 1.3.1), so Weir reports the lakeFS API level it mirrors.
LAKEFS_COMPAT_VERSION = "1.50.0"
BLOCKSTORE_TYPE = "local"
NAMESPACE_REGEX = "^(s3|gs|https?|mem|local|transient)://"


def pagination(has_more: bool, next_offset: str, results: int, max_per_page: int) -> JSON:
    return {
        "has_more": has_more,
        "next_offset": next_offset if has_more else "",
        "results": results,
        "max_per_page": max_per_page,
    }


def page(results: Sequence[JSON], has_more: bool, next_offset: str, max_per_page: int) -> JSON:
    """A lakeFS list response: ``{pagination, results}``."""
    return {
        "pagination": pagination(has_more, next_offset, len(results), max_per_page),
        "results": list(results),
    }


def storage_config() -> JSON:
    return {
        "blockstore_type": BLOCKSTORE_TYPE,
        "blockstore_namespace_example": "local://weir",
        "blockstore_namespace_ValidityRegex": NAMESPACE_REGEX,
        "default_namespace_prefix": "local://",
        "pre_sign_support": False,
        "pre_sign_support_ui": False,
        "import_support": False,
        "import_validity_regex": NAMESPACE_REGEX,
        "pre_sign_multipart_upload": False,
        "blockstore_id": "",
        "blockstore_description": "Weir content-addressed blob store",
    }


def version_config(weir_version: str) -> JSON:
    return {
        "version": LAKEFS_COMPAT_VERSION,
        "version_context": f"weir {weir_version}",
        "upgrade_recommended": False,
    }


def config(weir_version: str) -> JSON:
    return {
        "version_config": version_config(weir_version),
        "storage_config": storage_config(),
        "storage_config_list": [],
        "capabilities_config": {"weir": True},
    }


def repository(r: Repository) -> JSON:
    return {
        "id": r.name,
        "creation_date": int(r.creation_date),
        "default_branch": r.default_branch,
        "storage_namespace": r.storage_namespace or f"local://{r.name}",
        "storage_id": "",
        "read_only": False,
    }


def ref(name: str, commit_id: str) -> JSON:
    return {"id": name, "commit_id": commit_id}


def commit(c: Commit) -> JSON:
    out: JSON = {
        "id": c.id,
        "parents": list(c.parents),
        "committer": c.committer,
        "message": c.message,
        "creation_date": int(c.creation_date),
        "meta_range_id": c.tree.hex(),
        "metadata": dict(c.metadata),
        "generation": c.generation,
        "version": 1,
    }
    if c.inputs:  # Weir: lineage; absent when none, so lakeFS clients see the usual shape
        out["inputs"] = [input_json(i) for i in c.inputs]
    return out


def physical_address(e: Entry) -> str:
    """An opaque location: Weir's blobs are content-addressed and not meant to be read
    directly (clients go through the API)."""
    return f"weir://blobs/{e.address}"


def object_stats(path: str, e: Entry) -> JSON:
    return {
        "path": path,
        "path_type": "object",
        "physical_address": physical_address(e),
        "checksum": e.etag,
        "size_bytes": e.size,
        "mtime": int(e.mtime),
        "metadata": user_metadata(e.metadata),
        "content_type": e.content_type,
    }


def prefix_stats(prefix: str) -> JSON:
    """A common-prefix row still carries every required ObjectStats field (as lakeFS does)."""
    return {
        "path": prefix,
        "path_type": "common_prefix",
        "physical_address": "",
        "checksum": "",
        "mtime": 0,
    }


def _right_stat(e: Entry) -> JSON:
    return {
        "checksum": e.etag,
        "mtime": int(e.mtime),
        "content_type": e.content_type,
        "metadata": user_metadata(e.metadata),
    }


def diff(c: Change, *, include_right_stats: bool = False) -> JSON:
    sized = c.right if c.right is not None else c.left
    row: JSON = {"type": c.kind.value, "path": c.path, "path_type": "object"}
    if sized is not None:
        row["size_bytes"] = sized.size
    if include_right_stats and c.right is not None and c.kind is not ChangeKind.REMOVED:
        row["right"] = _right_stat(c.right)
    return row


def diff_prefix(prefix: str) -> JSON:
    return {"type": "prefix_changed", "path": prefix, "path_type": "common_prefix"}


def _entry_or_none(path: str, e: Entry | None) -> JSON | None:
    return None if e is None else object_stats(path, e)


def conflict(pc: PathConflict) -> JSON:
    """One merge conflict: the path, its kind and the three sides' entries (null = absent)."""
    return {
        "path": pc.path,
        "type": pc.kind.value,
        "base": _entry_or_none(pc.path, pc.base),
        "source": _entry_or_none(pc.path, pc.source),
        "destination": _entry_or_none(pc.path, pc.dest),
    }


def user(u: User) -> JSON:
    return {"id": u.name, "creation_date": int(u.creation_date), "admin": u.admin}


def credentials(k: AccessKey) -> JSON:
    return {"access_key_id": k.access_key_id, "creation_date": int(k.creation_date)}


def new_credentials(c: NewCredentials) -> JSON:
    return {
        "access_key_id": c.access_key_id,
        "secret_access_key": c.secret_access_key,
        "creation_date": int(c.creation_date),
        "user_id": c.user,
    }


def grant(g: Grant) -> JSON:
    return {
        "id": g.id,
        "repository": g.repository,
        "branch": g.branch,
        "action": g.action.name.lower(),
    }

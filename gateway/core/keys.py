"""The metadata key layout. The only module that knows how records are keyed in the KV store.

Every key is ``<table letter> "/" <fields separated by NUL>``. Names and paths never contain NUL
(validated at the edge), so NUL-separated fields sort field by field: all of one repository's
branches are contiguous, and a branch's staged paths are contiguous and in path order.
"""

from __future__ import annotations

SEP = b"\x00"

REPO = b"R/"  # R/<repo> -> Repository
BRANCH = b"B/"  # B/<repo>\0<branch> -> Branch
TAG = b"T/"  # T/<repo>\0<tag> -> Tag
COMMIT = b"C/"  # C/<repo>\0<commit hex> -> Commit
NODE = b"N/"  # N/<node id (32 raw bytes)> -> tree node (global: shared by every repository)
STAGING = b"S/"  # S/<repo>\0<staging token>\0<path> -> staged entry or tombstone
MANIFEST = b"M/"  # M/<manifest hex> -> multipart manifest (global, content-addressed)
INLINE = b"I/"  # I/<blob hex> -> the bytes of a small blob (global, content-addressed)
UPLOAD = b"U/"  # U/<repo>\0<upload id> -> Upload
PART = b"P/"  # P/<repo>\0<upload id>\0<part number, 4 bytes BE> -> Part
#: Legacy path index (before path history was generation-ordered); read only by the one-time
#: migration in ``gateway.core.pathindex`` that turns it into ``HISTORY`` keys.
PATHLOG = b"L/"  # L/<repo>\0<path>\0<commit hex> -> b""
#: V/<repo>\0<path>\0<generation, 8 bytes BE><commit hex> -> b"" (set) or b"d" (deleted):
#: the commits that changed the path relative to their first parent, in generation order, so
#: "newest change of P below generation g" is one seek. See docs/decisions/0012.
HISTORY = b"V/"
#: J/<repo>\0<commit hex> -> first-parent chain link (depth, generation, parent, skew-binary
#: jump pointer): "is C on the first-parent chain of H" in O(log n) point reads.
CHAIN = b"J/"
#: W/<name> -> engine-wide format markers (e.g. which index migrations have run).
ENGINE = b"W/"
#: The audit trail (gateway.audit): a/r<seq, 8 bytes BE> -> record, a/h -> [seq, hash] (head).
AUDIT = b"a/"
#: F/<blob hex> -> purge tombstone (gateway.integrity.purge; "forgotten"): the blob's bytes were
#: removed on purpose (when, who, why). Not a missing blob: GC and verify must not count it.
PURGED = b"F/"
PROTECT = b"X/"  # X/<repo> -> list of protected-branch globs
DELETING = b"D/"  # D/<repo> -> b"": the repository was deleted and its records are being purged
STAGESEQ = b"Q/"  # Q/<repo>\0<staging token> -> count of writes to that staging area (8 bytes)
#: K/<input repo>\0<input commit hex>\0<repo>\0<commit hex> -> b"": commits built from an input
#: (the reverse of Commit.inputs), so "what was built from X" is a range scan, not a history walk.
DOWNSTREAM = b"K/"
#: m/<repo>\0<upload id> -> a completed multipart upload (created at, branch, path,
#: parts, entry), so that a repeated CompleteMultipartUpload answers as the first one did.
#: Expires after ``multipart.COMPLETED_TTL_SECONDS`` (``multipart.completed_expired`` tells);
#: GC deletes expired records, readers ignore them.
COMPLETED = b"m/"
#: Garbage collection's own records (``gateway.core.gcrefs`` names the sub-tables): the state of
#: a running collection, the write barrier's fresh references, young content, run reports.
GC = b"E/"
#: Z/<repo>\0<commit hex> -> (collected at, run id): a commit removed by retention, remembered
#: so that reading it answers "collected", not "never existed".
COLLECTED = b"Z/"
#: A/<repo>\0<kind b|t><ref name>\0<commit hex> -> time: a branch or tag stopped pointing at a
#: commit (deleted, hard-reset). Retention keeps such commits for the ref's retention period.
REFLOG = b"A/"
GC_RULES = b"Y/"  # Y/<repo> -> the repository's retention rules (gateway.gc.rules)
#: b/<blob hex> -> where an object-store backend keeps the blob (gateway.core.blobindex)
BLOBLOC = b"b/"
#: p/<physical token> -> an object-store upload in progress, or a physical object being deleted
PENDING = b"p/"
#: j/<repo>\0<import id> -> a zero-copy import job (gateway.core.imports)
IMPORTS = b"j/"
#: Pending presigned staging uploads of the admin API (shared by every worker process):
#: w/t/<token> -> the upload; w/e/<expiry, 8 bytes BE seconds><token> -> b"" (expiry order);
#: w/n -> how many are pending (8 bytes BE). (Briefly under V/, which path history owns: the
#: path-index migration removes such leftovers.)
PRESIGNED = b"w/"
PRESIGNED_BY_TOKEN = PRESIGNED + b"t/"
PRESIGNED_BY_EXPIRY = PRESIGNED + b"e/"
PRESIGNED_COUNT = PRESIGNED + b"n"
#: H/<repo>\0<branch>\0<seq, 8 bytes BE> -> [old head, new head] ("" = absent): a branch head
#: change, numbered by the global head sequence. Written only while a snapshot is held (see
#: ``gateway.core.heads``); every write of a ``B/`` record goes through ``heads``.
HEADLOG = b"H/"
HEADSEQ = b"G/"  # G/ -> the global head sequence (8 bytes BE): the last number handed out
#: O/<seq, 8 bytes BE><holder> -> [expires at]: an open snapshot (the heads as of ``seq``).
SNAPSHOT = b"O/"


def _s(value: str) -> bytes:
    return value.encode("utf-8")


def prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with ``prefix``."""
    p = bytearray(prefix)
    while p and p[-1] == 0xFF:
        p.pop()
    if not p:
        return b"\xff" * 8
    p[-1] += 1
    return bytes(p)


def repo(name: str) -> bytes:
    return REPO + _s(name)


def branch(repo_name: str, name: str) -> bytes:
    return BRANCH + _s(repo_name) + SEP + _s(name)


def branches(repo_name: str) -> bytes:
    return BRANCH + _s(repo_name) + SEP


def tag(repo_name: str, name: str) -> bytes:
    return TAG + _s(repo_name) + SEP + _s(name)


def tags(repo_name: str) -> bytes:
    return TAG + _s(repo_name) + SEP


def commit(repo_name: str, commit_hex: str) -> bytes:
    return COMMIT + _s(repo_name) + SEP + commit_hex.encode("ascii")


def commits(repo_name: str) -> bytes:
    return COMMIT + _s(repo_name) + SEP


def node(node_id: bytes) -> bytes:
    return NODE + node_id


def staging(repo_name: str, token: str) -> bytes:
    """Prefix of one staging area; append a UTF-8 path to address one staged path."""
    return STAGING + _s(repo_name) + SEP + token.encode("ascii") + SEP


def staging_seq(repo_name: str, token: str) -> bytes:
    return STAGESEQ + _s(repo_name) + SEP + token.encode("ascii")


def inline_blob(blob_hex: str) -> bytes:
    return INLINE + blob_hex.encode("ascii")


def blob_location(blob_hex: str) -> bytes:
    """The blob index record of ``blob_hex`` (or, for a prefix of it, the start of a scan)."""
    return BLOBLOC + blob_hex.encode("ascii")


def pending_upload(token: str) -> bytes:
    return PENDING + token.encode("ascii")


def import_job(repo_name: str, import_id: str) -> bytes:
    return import_jobs(repo_name) + import_id.encode("ascii")


def import_jobs(repo_name: str) -> bytes:
    return IMPORTS + _s(repo_name) + SEP


def manifest(manifest_hex: str) -> bytes:
    return MANIFEST + manifest_hex.encode("ascii")


def upload(repo_name: str, upload_id: str) -> bytes:
    return UPLOAD + _s(repo_name) + SEP + upload_id.encode("ascii")


def uploads(repo_name: str) -> bytes:
    return UPLOAD + _s(repo_name) + SEP


def completed(repo_name: str, upload_id: str) -> bytes:
    return COMPLETED + _s(repo_name) + SEP + upload_id.encode("ascii")


def part(repo_name: str, upload_id: str, number: int) -> bytes:
    return parts(repo_name, upload_id) + number.to_bytes(4, "big")


def parts(repo_name: str, upload_id: str) -> bytes:
    return PART + _s(repo_name) + SEP + upload_id.encode("ascii") + SEP


def pathlog(repo_name: str, path: str, commit_hex: str) -> bytes:
    return PATHLOG + _s(repo_name) + SEP + _s(path) + SEP + commit_hex.encode("ascii")


def pathlog_prefix(repo_name: str, path_prefix: str) -> bytes:
    return PATHLOG + _s(repo_name) + SEP + _s(path_prefix)


def history(repo_name: str, path: str, generation: int, commit_hex: str) -> bytes:
    return history_of(repo_name, path) + generation.to_bytes(8, "big") + commit_hex.encode("ascii")


def history_of(repo_name: str, path: str) -> bytes:
    """Prefix of one path's history keys (exact path: the NUL ends the path)."""
    return HISTORY + _s(repo_name) + SEP + _s(path) + SEP


def history_prefix(repo_name: str, path_prefix: str) -> bytes:
    """Prefix of the history keys of every path starting with ``path_prefix``."""
    return HISTORY + _s(repo_name) + SEP + _s(path_prefix)


def chain(repo_name: str, commit_hex: str) -> bytes:
    return CHAIN + _s(repo_name) + SEP + commit_hex.encode("ascii")


def audit_record(seq: int) -> bytes:
    return AUDIT + b"r" + seq.to_bytes(8, "big")


AUDIT_RECORDS = AUDIT + b"r"
AUDIT_HEAD = AUDIT + b"h"


def purged(blob_hex: str) -> bytes:
    return PURGED + blob_hex.encode("ascii")


def engine_marker(name: str) -> bytes:
    return ENGINE + _s(name)


def downstream(input_repo: str, input_commit: str, repo_name: str, commit_hex: str) -> bytes:
    return (
        downstream_of(input_repo, input_commit) + _s(repo_name) + SEP + commit_hex.encode("ascii")
    )


def downstream_of(input_repo: str, input_commit: str) -> bytes:
    """Prefix of every commit built from ``input_repo``'s commit ``input_commit``."""
    return DOWNSTREAM + _s(input_repo) + SEP + input_commit.encode("ascii") + SEP


def collected(repo_name: str, commit_hex: str) -> bytes:
    return COLLECTED + _s(repo_name) + SEP + commit_hex.encode("ascii")


def collected_prefix(repo_name: str, commit_prefix: str = "") -> bytes:
    return COLLECTED + _s(repo_name) + SEP + commit_prefix.encode("ascii")


def reflog(repo_name: str, kind: str, ref_name: str, commit_hex: str) -> bytes:
    """``kind`` is "b" (branch) or "t" (tag)."""
    return (
        REFLOG
        + _s(repo_name)
        + SEP
        + kind.encode("ascii")
        + _s(ref_name)
        + SEP
        + commit_hex.encode("ascii")
    )


def reflogs(repo_name: str) -> bytes:
    return REFLOG + _s(repo_name) + SEP


def gc_rules(repo_name: str) -> bytes:
    return GC_RULES + _s(repo_name)


def presigned(token: str) -> bytes:
    return PRESIGNED_BY_TOKEN + token.encode("ascii")


def presigned_expiry(expires: int, token: str) -> bytes:
    return PRESIGNED_BY_EXPIRY + expires.to_bytes(8, "big") + token.encode("ascii")


def headlog_of(repo_name: str, branch_name: str) -> bytes:
    """Prefix of one branch's head-change records (``+ seq`` addresses one)."""
    return HEADLOG + _s(repo_name) + SEP + _s(branch_name) + SEP


def headlog(repo_name: str, branch_name: str, seq: int) -> bytes:
    return headlog_of(repo_name, branch_name) + seq.to_bytes(8, "big")


def snapshot(seq: int, holder: str) -> bytes:
    return SNAPSHOT + seq.to_bytes(8, "big") + _s(holder)


def deleting(repo_name: str) -> bytes:
    return DELETING + _s(repo_name)


def protect(repo_name: str) -> bytes:
    return PROTECT + _s(repo_name)


#: Every table whose keys start with "<table><repo>\0": purged when a repository is deleted.
REPO_TABLES = (
    BRANCH,
    TAG,
    COMMIT,
    STAGING,
    STAGESEQ,
    UPLOAD,
    PART,
    PATHLOG,
    HISTORY,
    CHAIN,
    COMPLETED,
    HEADLOG,
    COLLECTED,
    REFLOG,
    IMPORTS,
)

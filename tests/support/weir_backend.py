"""Which blob backend the Weir servers started by the tests use.

``WEIR_TEST_BLOB_BACKEND=s3`` (``make test-s3``; ``make test`` sets it for a second run of the
conformance suite) runs every Weir the functional, CLI and conformance tests start -- and the
in-process admin apps -- with ``storage.backend = "s3"`` on one real SeaweedFS, started once per
pytest process on first use and stopped at exit. Each Weir gets a prefix of its own in one bucket.
Unset or ``local``: the embedded default (blobs on local disk; in-process apps in memory).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import secrets
import tempfile
import threading
from pathlib import Path

from gateway.core.ports import BlobStore, KVStore
from tests.support.postgres import server_meta_env
from tests.support.s3servers import S3Server, start_seaweedfs

ENV = "WEIR_TEST_BLOB_BACKEND"
BUCKET = "weir-test-blobs"

_lock = threading.Lock()
_server: S3Server | None = None


def selected() -> str:
    """``local`` or ``s3``."""
    value = os.environ.get(ENV, "local").strip().lower() or "local"
    if value not in ("local", "s3"):
        raise RuntimeError(f"{ENV} must be local or s3, not {value!r}")
    return value


def seaweedfs() -> S3Server:
    """The process-wide SeaweedFS behind Weir (started on first use; its bucket created)."""
    global _server
    with _lock:
        if _server is None:
            root = Path(tempfile.mkdtemp(prefix="weir-test-seaweedfs-"))
            server = start_seaweedfs(root)
            atexit.register(server.stop)
            server.make_bucket(BUCKET)
            _server = server
        return _server


def server_env(data_dir: Path, tag: str = "weir") -> dict[str, str]:
    """Environment variables that put a Weir server on the selected backends ({} for the
    embedded defaults): blobs (``WEIR_TEST_BLOB_BACKEND``) and metadata
    (``WEIR_TEST_META_BACKEND=postgres``: a schema of its own on the tests' PostgreSQL).

    The key prefix and the schema follow from ``data_dir``: a server restarted on the same data
    directory finds its blobs and metadata again, two data directories never share them."""
    meta = server_meta_env(key=str(Path(data_dir).resolve()))
    if selected() != "s3":
        return meta
    s = seaweedfs()
    digest = hashlib.blake2b(str(Path(data_dir).resolve()).encode(), digest_size=8).hexdigest()
    return {
        **meta,
        "WEIR_STORAGE_BACKEND": "s3",
        "WEIR_STORAGE_S3_BUCKET": BUCKET,
        "WEIR_STORAGE_S3_PREFIX": f"{tag}-{digest}/",
        "WEIR_STORAGE_S3_ENDPOINT_URL": s.endpoint_url,
        "WEIR_STORAGE_S3_REGION": s.region,
        "WEIR_STORAGE_S3_ACCESS_KEY_ID": s.access_key_id,
        "WEIR_STORAGE_S3_SECRET_ACCESS_KEY": s.secret_access_key,
    }


def in_process_blobs(kv: KVStore, spool: Path | None = None) -> BlobStore:
    """A blob store for an in-process Lake over ``kv``: memory, or S3 on the shared SeaweedFS."""
    if selected() != "s3":
        from gateway.storage.memory import MemoryBlobStore

        return MemoryBlobStore()
    from gateway.storage.s3 import S3BlobStore

    s = seaweedfs()
    return S3BlobStore(
        kv=kv,
        bucket=BUCKET,
        prefix=f"inproc-{secrets.token_hex(6)}/",
        endpoint_url=s.endpoint_url,
        region=s.region,
        access_key_id=s.access_key_id,
        secret_access_key=s.secret_access_key,
        spool_dir=spool,
    )

"""The audit trail end to end: operations on both APIs by several users are recorded with who,
key, what, where, result and address; ``weir audit verify`` holds, then, after a record is
altered on disk while the server is down, names the broken link."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3  # type: ignore[import-untyped]
import msgpack
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from gateway.core import keys
from gateway.core.ports import KVWriter
from gateway.meta.lmdb_store import LmdbKVStore
from tests.cli.conftest import run
from tests.cli.weir_e2e import api, cli_env, ok
from tests.functional.conftest import run_weir


def test_both_apis_on_the_trail_and_on_disk_tampering_caught(tmp_path: Path) -> None:
    data = tmp_path / "data"
    repo = f"aud-{uuid.uuid4().hex[:6]}"
    with run_weir(data, tmp_path / "server.log") as server:
        env = cli_env(server, tmp_path)
        ok(["repo", "create", repo], env)
        s3 = server.boto3_client()
        s3.put_object(Bucket=repo, Key="main/data/a.csv", Body=b"id\n1\n")
        commit = json.loads(ok(["commit", repo, "main", "-m", "load", "--json"], env).stdout)
        ok(["user", "create", "reader"], env)
        key = json.loads(ok(["user", "key", "create", "reader", "--json"], env).stdout)
        ok(["grant", "add", "reader", "--repo", repo, "--action", "read"], env)
        reader_s3 = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id=key["access_key_id"],
            aws_secret_access_key=key["secret_access_key"],
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        with pytest.raises(ClientError):
            reader_s3.put_object(Bucket=repo, Key="main/data/b.csv", Body=b"no")
        reader_s3.get_object(Bucket=repo, Key="main/data/a.csv")  # reads are not recorded
        status, _ = api(
            server,
            "POST",
            f"/repositories/{repo}/branches/main/commits",
            {"message": "sneaky"},
            key=key["access_key_id"],
            secret=key["secret_access_key"],
        )
        assert status == 403
        status, _ = api(server, "DELETE", f"/repositories/{repo}", key="AKIANOBODY0", secret="x")
        assert status == 401  # unauthenticated: not on the trail (the access log has it)

        trail = json.loads(ok(["audit", "--repo", repo, "--json"], env).stdout)
        seen = [
            (r["api"], r["operation"], r["user"], r["result"], r.get("ref", ""), r.get("path", ""))
            for r in reversed(trail)
        ]
        assert seen == [
            ("admin", "createRepository", "admin", "ok", "", ""),
            ("s3", "PutObject", "admin", "ok", "main", "data/a.csv"),
            ("admin", "commit", "admin", "ok", "main", ""),
            ("s3", "PutObject", "reader", "error", "main", "data/b.csv"),
            ("admin", "commit", "reader", "error", "main", ""),
        ]
        by_op = {(r["operation"], r["user"]): r for r in trail}
        assert by_op[("commit", "admin")]["detail"] == f"commit {commit['id']}"
        assert by_op[("PutObject", "reader")]["detail"].startswith("AccessDenied: ")
        assert by_op[("PutObject", "admin")]["access_key_id"] == server.access_key
        assert {r["address"] for r in trail} == {"127.0.0.1"}
        users = json.loads(ok(["audit", "--user", "admin", "--json"], env).stdout)
        ops = {r["operation"] for r in users}
        assert {"createUser", "createCredentials", "addGrant", "ensureAdmin"} <= ops | {
            r["operation"] for r in json.loads(ok(["audit", "--json"], env).stdout)
        }
        table = ok(["audit", "--repo", repo, "--limit", "2"], env).stdout.splitlines()
        assert table[0].split() == ["SEQ", "TIME", "USER", "OPERATION", "WHERE", "RESULT", "FROM"]
        assert len(table) == 3 and "reader  admin:commit" in table[1] and "s3:PutObject" in table[2]
        verified = ok(["audit", "verify"], env).stdout
        assert verified.startswith("audit trail intact: ")
        target = by_op[("PutObject", "admin")]["seq"]

    def alter(w: KVWriter) -> None:  # what someone with the data directory could do
        version, seq, prev, when, body = msgpack.unpackb(w.get(keys.audit_record(target)))
        body["user"] = "somebody-else"
        w.put(keys.audit_record(target), msgpack.packb([version, seq, prev, when, body]))

    store = LmdbKVStore(data / "meta")
    store.write_sync(alter)
    store.close()
    with run_weir(data, tmp_path / "server2.log") as server:
        env = cli_env(server, tmp_path)
        broken = run(["audit", "verify"], env)
        assert broken.code == 1
        assert f"audit trail broken at record {target + 1}:" in broken.stderr
        assert f"does not chain to record {target}" in broken.stderr
        status, verdict = api(server, "GET", "/audit/verify")
        assert status == 200 and verdict["ok"] is False and verdict["broken_at"] == target + 1

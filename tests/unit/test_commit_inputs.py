"""Commit inputs (lineage): resolved at commit time, part of the commit's id, indexed downstream."""

from __future__ import annotations

import msgpack
import pytest

from gateway.core import codec, errors, keys, tree
from gateway.core.ids import CommitId, RepoName
from gateway.core.lake import Lake
from gateway.core.model import Commit, CommitInput, InputRef
from gateway.core.ports import KVReader, KVWriter
from tests.unit.lake_helpers import memory_lake, put


@pytest.fixture
async def lake() -> Lake:
    lk = memory_lake()
    await lk.create_repository("data")
    await lk.create_repository("models")
    return lk


async def test_inputs_are_resolved_to_commit_ids_and_part_of_the_id(lake: Lake) -> None:
    await put(lake, "data", "main", "raw/a", b"1")
    data_commit = await lake.commit("data", "main", message="raw", committer="t")
    await put(lake, "data", "main", "raw/b", b"2")  # staged, not part of any commit
    await put(lake, "models", "main", "model.bin", b"w")
    c = await lake.commit(
        "models",
        "main",
        message="train",
        committer="t",
        inputs=[InputRef(RepoName("data"), "main", "raw/")],
    )
    assert c.inputs == (CommitInput(RepoName("data"), data_commit.id, "main", "raw/", ""),)
    loaded = await lake.get_commit("models", c.id)
    assert loaded.inputs == c.inputs
    # The inputs are hashed with the rest: the same commit without them has another id.
    body = codec.encode_commit(c)
    assert codec.verify_commit(c, body)
    bare = codec.make_commit(
        tree=c.tree,
        parents=c.parents,
        committer=c.committer,
        message=c.message,
        metadata=c.metadata,
        creation_date=c.creation_date,
        generation=c.generation,
    )
    assert bare.id != c.id


async def test_commit_without_inputs_keeps_its_encoding() -> None:
    c = codec.make_commit(
        tree=b"",
        parents=(),
        committer="t",
        message="m",
        metadata={},
        creation_date=1.0,
        generation=1,
    )
    decoded = codec.decode_commit(c.id, codec.encode_commit(c))
    assert decoded.inputs == () and decoded == c
    # Eight fields, as before inputs existed: ids of older histories are unchanged.
    assert len(msgpack.unpackb(codec.encode_commit(c))) == 8


async def test_downstream_index_names_every_commit_built_from_an_input(lake: Lake) -> None:
    await put(lake, "data", "main", "a", b"1")
    d = await lake.commit("data", "main", message="d", committer="t")
    made: list[Commit] = []
    for i in range(2):
        await put(lake, "models", "main", f"m{i}", b"w")
        made.append(
            await lake.commit(
                "models",
                "main",
                message=f"m{i}",
                committer="t",
                inputs=[InputRef(RepoName("data"), d.id[:10])],
            )
        )
    prefix = keys.downstream_of("data", d.id)

    def scan(r: KVReader) -> list[bytes]:
        return [k[len(prefix) :] for k, _ in r.scan(prefix, keys.prefix_end(prefix))]

    found = await lake.kv.read(scan)
    assert sorted(found) == sorted(b"models\x00" + c.id.encode() for c in made)


async def test_bad_inputs_are_refused_and_commit_nothing(lake: Lake) -> None:
    await put(lake, "models", "main", "m", b"w")
    with pytest.raises(errors.RepositoryNotFound):
        await lake.commit(
            "models",
            "main",
            message="x",
            committer="t",
            inputs=[InputRef(RepoName("nope"), "main")],
        )
    with pytest.raises(errors.RefNotFound):
        await lake.commit(
            "models", "main", message="x", committer="t", inputs=[InputRef(RepoName("data"), "zz")]
        )
    with pytest.raises(errors.InvalidArgument):
        await lake.commit(
            "models",
            "main",
            message="x",
            committer="t",
            inputs=[InputRef(RepoName("data"), "main", manifest="ab" * 32)],
        )
    assert len((await lake.diff_uncommitted("models", "main")).changes) == 1


async def test_manifest_input_names_a_stored_tree(lake: Lake) -> None:
    await put(lake, "data", "main", "a", b"1")
    d = await lake.commit("data", "main", message="d", committer="t")
    entry = await lake.stat_object("data", "main", "a")
    nodes = tree.DictNodeStore()
    root = tree.build([("a", entry)], nodes)

    def store(w: KVWriter) -> None:
        for node_id, data in nodes.nodes.items():
            w.put(keys.node(node_id), data)

    await lake.kv.write(store)
    await put(lake, "models", "main", "m", b"w")
    c = await lake.commit(
        "models",
        "main",
        message="x",
        committer="t",
        inputs=[InputRef(RepoName("data"), d.id, manifest=root.hex())],
    )
    assert c.inputs[0].manifest == root.hex() and c.inputs[0].commit == CommitId(d.id)

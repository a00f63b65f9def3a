"""Lineage: input parsing, merge inputs, and the graph builder's rules on in-memory stores."""

from __future__ import annotations

import pytest

from gateway.core import errors
from gateway.core.ids import RepoName
from gateway.core.lake import Lake
from gateway.core.model import InputRef
from gateway.lineage import graph, render
from gateway.lineage.inputs import input_from_json, inputs_from_json, parse_input
from tests.unit.lake_helpers import memory_lake, put


def test_input_expressions() -> None:
    assert parse_input("data@main") == InputRef(RepoName("data"), "main", "")
    assert parse_input("data@main~2:train/") == InputRef(RepoName("data"), "main~2", "train/")
    assert parse_input("data@main@:a:b") == InputRef(RepoName("data"), "main@", "a:b")
    assert input_from_json({"repository": "data", "ref": "v1", "path": "x"}).path == "x"
    for bad in ("data", "@main", "data@", "Data@main"):
        with pytest.raises(errors.InvalidArgument):
            parse_input(bad)
    for bad_json in (3, {"repository": "data"}, {"repository": 1, "ref": "x"}):
        with pytest.raises(errors.InvalidArgument):
            input_from_json(bad_json)
    with pytest.raises(errors.InvalidArgument):
        inputs_from_json("data@main")
    assert inputs_from_json(None) == []


async def always(_: str) -> bool:
    return True


async def lake_with_chain() -> tuple[Lake, list[str]]:
    """raw -> feat (input raw) -> model (input feat), plus a merge in feat with an input."""
    lake = memory_lake()
    for r in ("raw", "feat", "model"):
        await lake.create_repository(r)
    await put(lake, "raw", "main", "r", b"1")
    r1 = await lake.commit("raw", "main", message="r1", committer="t")
    await lake.create_branch("feat", "dev", "main")
    await put(lake, "feat", "dev", "f", b"1")
    await lake.commit("feat", "dev", message="f1", committer="t")
    merged = await lake.merge(
        "feat", "dev", "main", committer="t", inputs=[InputRef(RepoName("raw"), "main")]
    )
    await put(lake, "model", "main", "m", b"1")
    m1 = await lake.commit(
        "model", "main", message="m1", committer="t", inputs=[InputRef(RepoName("feat"), "main")]
    )
    return lake, [r1.id, merged.commit.id, m1.id]


async def test_merge_records_inputs_and_the_graph_follows_them() -> None:
    lake, (r1, merged, m1) = await lake_with_chain()
    assert [i.commit for i in (await lake.get_commit("feat", merged)).inputs] == [r1]
    g = await graph.build(lake, "model", "main", may_read=always)
    assert set(g.nodes) == {f"model@{m1}", f"feat@{merged}", f"raw@{r1}"}
    assert not g.truncated
    cut = await graph.build(lake, "model", "main", depth=1, may_read=always)
    assert cut.truncated and set(cut.nodes) == {f"model@{m1}", f"feat@{merged}"}
    down = await graph.build(
        lake, "raw", "main", direction=graph.Direction.DOWNSTREAM, may_read=always
    )
    assert {(e.source.split("@")[0], e.target.split("@")[0]) for e in down.edges} == {
        ("raw", "feat"),
        ("feat", "model"),
    }

    async def no_model(repo: str) -> bool:
        return repo != "model"

    hid = await graph.build(
        lake, "raw", "main", direction=graph.Direction.DOWNSTREAM, may_read=no_model
    )
    assert hid.hidden == 1 and all(not n.startswith("model@") for n in hid.nodes)
    with pytest.raises(errors.InvalidArgument):
        await graph.build(lake, "raw", "main", depth=99, may_read=always)
    with pytest.raises(errors.ObjectNotFound):
        await graph.build(lake, "raw", "main", path="never", may_read=always)


async def test_downstream_of_an_older_commit_reaches_uses_of_its_descendants() -> None:
    lake, (r1, _, _) = await lake_with_chain()
    await put(lake, "raw", "main", "r", b"2")
    r2 = await lake.commit("raw", "main", message="r2", committer="t")
    await put(lake, "model", "main", "m", b"2")
    await lake.commit(
        "model", "main", message="m2", committer="t", inputs=[InputRef(RepoName("raw"), "main")]
    )
    g = await graph.build(lake, "raw", r1, direction=graph.Direction.DOWNSTREAM, may_read=always)
    contains = [e for e in g.edges if e.kind == "contains"]
    assert [(e.source, e.target) for e in contains] == [(f"raw@{r1}", f"raw@{r2.id}")]
    # With a path: only later commits whose content of the path r1 wrote (r2 rewrote "r").
    by_path = await graph.build(
        lake, "raw", r1, path="r", direction=graph.Direction.DOWNSTREAM, may_read=always
    )
    assert not [e for e in by_path.edges if e.kind == "contains"]


def test_renderers_escape_and_mark_repeats() -> None:
    g = {
        "direction": "upstream",
        "root": "a@1",
        "nodes": [
            {
                "id": "a@1",
                "repository": "a",
                "commit_id": "1",
                "readable": True,
                "commit": {"message": 'evil\n"x"', "committer": "t", "creation_date": 0},
            },
            {"id": "b@2", "repository": "b", "commit_id": "2", "readable": False, "commit": None},
        ],
        "edges": [
            {"from": "b@2", "to": "a@1", "kind": "input", "path": "p", "ref": "main"},
            {"from": "b@2", "to": "a@1", "kind": "input", "path": "q", "ref": "main"},
        ],
        "truncated": True,
        "hidden": 0,
    }
    text = render.tree(g)
    assert text.splitlines()[0] == 'a@1 "evil" (t, -)'
    assert "(see above)" in text and "depth" in text
    assert '"a@1" [label="a@1 \\"evil\\" (t, -)", style=bold];' in render.dot(g)
    assert 'n0["a@1 #34;evil#34; (t, -)"]' in render.mermaid(g)
    assert 'n1 -->|"input p (ref main)"| n0' in render.mermaid(g)

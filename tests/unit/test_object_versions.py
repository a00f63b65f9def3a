"""Object versions from history: listing (markers, delimiter, staged state), reading a version,
and the checks that keep a version id inside the ref's own history. Tags are versioned too."""

from __future__ import annotations

import pytest

from gateway.core import errors
from gateway.core.lake import Lake
from gateway.core.lake.versions import NULL_VERSION, ObjectVersion
from tests.unit.lake_helpers import memory_lake, put, read


@pytest.fixture
async def lake() -> Lake:
    lk = memory_lake()
    await lk.create_repository("repo")
    return lk


async def commit(lake: Lake, message: str, branch: str = "main") -> str:
    c = await lake.commit("repo", branch, message=message, committer="t")
    return c.id


async def all_versions(lake: Lake, ref: str = "main", **kw: object) -> list[ObjectVersion]:
    page = await lake.list_versions("repo", ref, **kw)  # type: ignore[arg-type]
    assert not page.truncated
    return page.versions


def rows(versions: list[ObjectVersion]) -> list[tuple[str, str, bool, bool]]:
    return [(v.path, v.version_id, v.entry is None, v.is_latest) for v in versions]


async def test_versions_are_the_commits_that_changed_the_path(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"one")
    await put(lake, "repo", "main", "b", b"bee")
    c1 = await commit(lake, "1")
    await put(lake, "repo", "main", "a", b"two")
    c2 = await commit(lake, "2")
    await lake.delete_object("repo", "main", "a")
    c3 = await commit(lake, "3")
    await put(lake, "repo", "main", "a", b"three")  # staged: the "null" version
    assert rows(await all_versions(lake)) == [
        ("a", NULL_VERSION, False, True),
        ("a", c3, True, False),  # the delete marker
        ("a", c2, False, False),
        ("a", c1, False, False),
        ("b", c1, False, True),
    ]
    # Read-only refs have no staged state; a tag or commit sees its own history.
    assert rows(await all_versions(lake, "main@"))[0] == ("a", c3, True, True)
    assert rows(await all_versions(lake, c2)) == [
        ("a", c2, False, True),
        ("a", c1, False, False),
        ("b", c1, False, True),
    ]
    entry, at = await lake.get_version("repo", "main", "a", c1)
    assert entry is not None and at is not None and at.id == c1
    data = b"".join([chunk async for chunk in lake.read_entry(entry)])
    assert data == b"one"
    deleted, _ = await lake.get_version("repo", "main", "a", c3)
    assert deleted is None
    current, none = await lake.get_version("repo", "main", "a", NULL_VERSION)
    assert none is None and current is not None
    assert await read(lake, "repo", "main", "a") == b"three"


async def test_a_version_id_must_be_a_change_of_the_path_on_the_ref(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"one")
    c1 = await commit(lake, "1")
    await put(lake, "repo", "main", "b", b"bee")
    c2 = await commit(lake, "2")  # did not change "a"
    await lake.create_branch("repo", "side", source="main")
    await put(lake, "repo", "side", "a", b"side")
    c3 = await commit(lake, "3", "side")
    with pytest.raises(errors.VersionNotFound):
        await lake.get_version("repo", "main", "a", c2)
    with pytest.raises(errors.VersionNotFound):  # a version of another branch's history
        await lake.get_version("repo", "main", "a", c3)
    with pytest.raises(errors.InvalidArgument):
        await lake.get_version("repo", "main", "a", "not-a-version")
    entry, _ = await lake.get_version("repo", "side", "a", c3)
    assert entry is not None
    assert [v.version_id for v in await all_versions(lake, "side", prefix="a")] == [c3, c1]
    assert [v.version_id for v in await all_versions(lake, "main", prefix="a")] == [c1]


async def test_paging_by_key_and_version_markers_visits_every_row_once(lake: Lake) -> None:
    for i in range(3):
        for name in ("d/x", "d/y", "e", "f/z"):
            await put(lake, "repo", "main", name, f"{name}{i}".encode())
        await commit(lake, str(i))
    await put(lake, "repo", "main", "e", b"staged")
    full = await all_versions(lake)
    assert len(full) == 13
    for limit in (1, 2, 5):
        seen: list[ObjectVersion] = []
        key, version = "", ""
        for _ in range(100):
            page = await lake.list_versions(
                "repo", "main", key_after=key, version_after=version, limit=limit
            )
            seen.extend(page.versions)
            if not page.truncated:
                break
            assert page.next_key is not None
            key, version = page.next_key, page.next_version or ""
        assert seen == full


async def test_delimiter_rolls_keys_into_common_prefixes(lake: Lake) -> None:
    for name in ("d/x", "d/y", "e", "f/z"):
        await put(lake, "repo", "main", name, b"1")
    await commit(lake, "1")
    page = await lake.list_versions("repo", "main", delimiter="/")
    assert page.prefixes == ["d/", "f/"]
    assert [v.path for v in page.versions] == ["e"]
    first = await lake.list_versions("repo", "main", delimiter="/", limit=1)
    assert (first.prefixes, first.truncated, first.next_key) == (["d/"], True, "d/")
    rest = await lake.list_versions("repo", "main", delimiter="/", key_after="d/")
    assert rest.prefixes == ["f/"] and [v.path for v in rest.versions] == ["e"]


async def test_paths_only_other_branches_changed_are_skipped_within_a_budget(lake: Lake) -> None:
    await put(lake, "repo", "main", "z", b"1")
    await commit(lake, "main")
    await lake.create_branch("repo", "side", source="main")
    for i in range(5):
        await put(lake, "repo", "side", f"s{i}", b"x")
    await commit(lake, "side", "side")
    page = await lake.list_versions("repo", "main", scan_budget=2)
    assert page.truncated and page.versions == [] and page.next_key == "s1"
    page = await lake.list_versions("repo", "main", key_after="s1", scan_budget=100)
    assert [v.path for v in page.versions] == ["z"] and not page.truncated


async def test_tags_are_versioned_and_diffed(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"data")
    c1 = await commit(lake, "1")
    tagged = await lake.set_object_tags("repo", "main", "a", {"team": "ml"})
    assert tagged.tags == {"team": "ml"}
    assert (await lake.stat_object("repo", "main", "a")).etag == tagged.etag
    changes = (await lake.diff_uncommitted("repo", "main")).changes
    assert [(c.path, c.kind.value) for c in changes] == [("a", "changed")]
    c2 = await commit(lake, "tags")
    assert [v.version_id for v in await all_versions(lake)] == [c2, c1]
    old, _ = await lake.get_version("repo", "main", "a", c1)
    assert old is not None and old.tags == {}
    diff = await lake.diff("repo", c1, c2)
    assert [(c.path, c.kind.value) for c in diff.changes] == [("a", "changed")]
    same = await lake.set_object_tags("repo", "main", "a", {"team": "ml"})
    assert same.tags == {"team": "ml"}
    assert (await lake.diff_uncommitted("repo", "main")).changes == []
    with pytest.raises(errors.ObjectNotFound):
        await lake.set_object_tags("repo", "main", "missing", {"a": "b"})

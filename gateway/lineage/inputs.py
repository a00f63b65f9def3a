"""The inputs a caller names for a commit: ``REPO@REF[:PATH]`` strings or JSON objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.core import names
from gateway.core.errors import InvalidArgument
from gateway.core.ids import RepoName
from gateway.core.model import CommitInput, InputRef

#: Most inputs one commit may record (a run that read more records a manifest instead).
MAX_INPUTS = 256


def parse_input(text: str) -> InputRef:
    """``REPO@REF`` or ``REPO@REF:PATH`` (PATH a path, or a prefix ending in '/').

    Raises InvalidArgument (malformed), InvalidName (a bad repository name).
    """
    repo, sep, rest = text.partition("@")
    ref, _, path = rest.partition(":")
    if not sep or not repo or not ref:
        raise InvalidArgument(f"an input is REPO@REF[:PATH], got {text!r}")
    names.check_repo(repo)
    if path:
        names.check_path(path)
    return InputRef(RepoName(repo), ref, path)


def input_from_json(value: Any) -> InputRef:
    """An input given in a JSON body: a ``"REPO@REF[:PATH]"`` string or an object
    ``{"repository", "ref", "path"?, "manifest"?}``."""
    if isinstance(value, str):
        return parse_input(value)
    if not isinstance(value, dict):
        raise InvalidArgument('each input is "REPO@REF[:PATH]" or {"repository", "ref", "path"}')
    repo, ref = value.get("repository"), value.get("ref")
    path, manifest = value.get("path") or "", value.get("manifest") or ""
    if not all(isinstance(v, str) for v in (repo, ref, path, manifest)) or not repo or not ref:
        raise InvalidArgument('an input object needs string "repository" and "ref" fields')
    names.check_repo(str(repo))
    if path:
        names.check_path(str(path))
    return InputRef(RepoName(str(repo)), str(ref), str(path), str(manifest))


def inputs_from_json(value: Any) -> list[InputRef]:
    """The ``inputs`` field of a commit or merge body (absent or null: none)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgument("field 'inputs' must be a list")
    if len(value) > MAX_INPUTS:
        raise InvalidArgument(f"at most {MAX_INPUTS} inputs per commit")
    return [input_from_json(v) for v in value]


def input_json(i: CommitInput) -> dict[str, str]:
    """How a recorded input is shown in API responses."""
    out = {"repository": i.repository, "commit_id": i.commit, "ref": i.ref, "path": i.path}
    if i.manifest:
        out["manifest"] = i.manifest
    return out


def describe(inputs: Sequence[InputRef]) -> str:
    return ", ".join(f"{i.repository}@{i.ref}" + (f":{i.path}" if i.path else "") for i in inputs)

"""Validation of repository, branch and tag names and object paths (done once, at the facade)."""

from __future__ import annotations

import re

from gateway.core.errors import InvalidName, InvalidPath

# lakeFS's rule (its clients validate it client-side) with S3's length limit.
_REPO_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
# A ref name: lakefs-spec accepts \w[\w\-.]*; Git forbids "..", "@{", a trailing ".lock" etc.
_REF_RE = re.compile(r"^[\w][\w\-./]*$")
RESERVED_REPOS = frozenset({"api"})
MAX_PATH_BYTES = 1024
MAX_REF_LEN = 256


def check_repo(name: str) -> str:
    if not _REPO_RE.match(name) or name in RESERVED_REPOS:
        raise InvalidName(
            f"invalid repository name {name!r}: 3-63 characters of a-z, 0-9 and '-', "
            "starting with a letter or digit (and not 'api')"
        )
    return name


def check_ref_name(name: str, what: str = "branch") -> str:
    if (
        not name
        or len(name) > MAX_REF_LEN
        or not _REF_RE.match(name)
        or ".." in name
        or name.endswith((".", "/", ".lock"))
        or "//" in name
    ):
        raise InvalidName(
            f"invalid {what} name {name!r}: letters, digits, '_', '-', '.', '/' "
            "(no '..', '~', '^', '@', ':' or spaces)"
        )
    return name


def check_path(path: str) -> str:
    if not path:
        raise InvalidPath("object path must not be empty")
    if "\x00" in path:
        raise InvalidPath("object path must not contain NUL")
    try:
        n = len(path.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidPath("object path is not valid UTF-8") from exc
    if n > MAX_PATH_BYTES:
        raise InvalidPath(f"object path is {n} bytes; the limit is {MAX_PATH_BYTES}")
    return path

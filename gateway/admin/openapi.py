"""The OpenAPI 3 document of everything the admin API serves, built from the route table.

Paths, parameters and responses come from each ``RouteSpec``; the shapes below are the JSON the
handlers produce (``gateway.admin.schemas``). Served at ``GET /api/v1/openapi.json``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from gateway.admin.routes_runs import RUN_SCHEMAS
from gateway.admin.routing import RouteSpec

DOCUMENT = web.AppKey("openapi_document", dict)

JSON = dict[str, Any]
_S: JSON = {"type": "string"}
_I: JSON = {"type": "integer", "format": "int64"}
_B: JSON = {"type": "boolean"}
_MAP: JSON = {"type": "object", "additionalProperties": _S}


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: Iterable[str], **props: JSON) -> JSON:
    return {"type": "object", "required": list(required), "properties": props}


def _list_of(item: str) -> JSON:
    return _obj(
        ["pagination", "results"],
        pagination=_ref("Pagination"),
        results={"type": "array", "items": _ref(item)},
    )


SCHEMAS: dict[str, JSON] = {
    "Error": _obj(["message"], message=_S),
    "Pagination": _obj(
        ["has_more", "next_offset", "results", "max_per_page"],
        has_more=_B,
        next_offset=_S,
        results=_I,
        max_per_page=_I,
    ),
    "StringMap": _MAP,
    "VersionConfig": _obj([], version=_S, version_context=_S, upgrade_recommended=_B),
    "StorageConfig": _obj(
        [
            "blockstore_type",
            "blockstore_namespace_example",
            "blockstore_namespace_ValidityRegex",
            "pre_sign_support",
            "pre_sign_support_ui",
            "import_support",
            "import_validity_regex",
        ],
        blockstore_type=_S,
        blockstore_namespace_example=_S,
        blockstore_namespace_ValidityRegex=_S,
        default_namespace_prefix=_S,
        pre_sign_support=_B,
        pre_sign_support_ui=_B,
        import_support=_B,
        import_validity_regex=_S,
        pre_sign_multipart_upload=_B,
        blockstore_id=_S,
        blockstore_description=_S,
    ),
    "Config": _obj(
        [],
        version_config=_ref("VersionConfig"),
        storage_config=_ref("StorageConfig"),
        storage_config_list={"type": "array", "items": _ref("StorageConfig")},
        capabilities_config={"type": "object"},
    ),
    "Repository": _obj(
        ["id", "creation_date", "default_branch", "storage_namespace"],
        id=_S,
        creation_date=_I,
        default_branch=_S,
        storage_namespace=_S,
        storage_id=_S,
        read_only=_B,
    ),
    "RepositoryCreation": _obj(
        ["name", "storage_namespace"],
        name=_S,
        storage_namespace=_S,
        default_branch=_S,
        sample_data=_B,
        storage_id=_S,
        read_only=_B,
    ),
    "RepositoryList": _list_of("Repository"),
    "Ref": _obj(["id", "commit_id"], id=_S, commit_id=_S),
    "RefList": _list_of("Ref"),
    "BranchCreation": _obj(["name", "source"], name=_S, source=_S, force=_B, hidden=_B),
    "ResetCreation": _obj(
        ["type"],
        type={"type": "string", "enum": ["reset", "object", "common_prefix"]},
        path=_S,
        force=_B,
    ),
    "TagCreation": _obj(["id", "ref"], id=_S, ref=_S, force=_B),
    "Commit": _obj(
        ["id", "parents", "committer", "message", "creation_date", "meta_range_id"],
        id=_S,
        parents={"type": "array", "items": _S},
        committer=_S,
        message=_S,
        creation_date=_I,
        meta_range_id=_S,
        metadata=_MAP,
        generation=_I,
        version=_I,
        inputs={
            "type": "array",
            "items": _ref("CommitInput"),
            "description": "Weir: what the commit was built from (lineage); absent when none",
        },
    ),
    "CommitInput": _obj(
        ["repository", "commit_id", "ref", "path"],
        repository=_S,
        commit_id={"type": "string", "description": "the input ref, resolved at commit time"},
        ref={"type": "string", "description": "the ref expression as given"},
        path={"type": "string", "description": "a path or prefix/ in the input; '' = all"},
        manifest={"type": "string", "description": "root of a tree of the exact paths read"},
    ),
    "InputRef": {
        "description": "REPO@REF[:PATH], or an object",
        "oneOf": [
            {"type": "string", "example": "datasets@main:train/"},
            _obj(["repository", "ref"], repository=_S, ref=_S, path=_S, manifest=_S),
        ],
    },
    "CommitList": _list_of("Commit"),
    "CommitCreation": _obj(
        ["message"],
        message=_S,
        metadata=_MAP,
        date=_I,
        allow_empty=_B,
        force=_B,
        paths={
            "type": "array",
            "items": _S,
            "description": "Weir: commit only these paths (a trailing / means a prefix)",
        },
        inputs={
            "type": "array",
            "items": _ref("InputRef"),
            "description": "Weir: lineage, resolved to commit ids and hashed into the commit "
            "(READ on each input is required)",
        },
    ),
    "RevertCreation": _obj(
        ["ref", "parent_number"],
        ref=_S,
        parent_number=_I,
        force=_B,
        allow_empty=_B,
        commit_overrides=_obj([], message=_S, metadata=_MAP),
    ),
    "CherryPickCreation": _obj(["ref"], ref=_S, parent_number=_I, force=_B),
    "Resolution": _obj(
        ["pattern", "side"],
        pattern={"type": "string", "description": "fnmatch glob"},
        side={"type": "string", "enum": ["source", "dest"]},
    ),
    "Merge": _obj(
        [],
        message=_S,
        metadata=_MAP,
        strategy={"type": "string", "enum": ["source-wins", "dest-wins"]},
        force=_B,
        allow_empty=_B,
        squash_merge=_B,
        resolutions={
            "type": "array",
            "items": _ref("Resolution"),
            "description": "Weir: settle conflicts per path or glob, first match wins",
        },
        inputs={
            "type": "array",
            "items": _ref("InputRef"),
            "description": "Weir: lineage of the merge commit (READ on each input)",
        },
    ),
    "MergeResult": _obj(["reference"], reference=_S, fast_forward=_B, changes=_I),
    "MergeConflict": _obj(
        ["message", "reference", "conflicts"],
        message=_S,
        reference=_S,
        conflicts={"type": "array", "items": _ref("Conflict")},
    ),
    "Conflict": _obj(
        ["path", "type"],
        path=_S,
        type={
            "type": "string",
            "enum": ["both-changed", "both-added", "changed-deleted", "deleted-changed"],
        },
        base={**_ref("ObjectStats"), "nullable": True},
        source={**_ref("ObjectStats"), "nullable": True},
        destination={**_ref("ObjectStats"), "nullable": True},
    ),
    "ObjectStats": _obj(
        ["path", "path_type", "physical_address", "checksum", "mtime"],
        path=_S,
        path_type={"type": "string", "enum": ["object", "common_prefix"]},
        physical_address=_S,
        checksum=_S,
        size_bytes=_I,
        mtime=_I,
        metadata=_MAP,
        content_type=_S,
    ),
    "ObjectStatsList": _list_of("ObjectStats"),
    "ObjectPreview": _obj(
        ["path", "kind", "content_type", "size_bytes", "bytes_read", "truncated"],
        path=_S,
        kind={
            "type": "string",
            "enum": ["parquet", "csv", "markdown", "text", "image", "binary"],
        },
        content_type=_S,
        size_bytes=_I,
        checksum=_S,
        bytes_read={"type": "integer", "description": "bytes of the object read to answer"},
        truncated={"type": "boolean", "description": "there is more than is shown"},
        columns={"type": "array", "items": _obj(["name", "type"], name=_S, type=_S)},
        rows={"type": "array", "items": {"type": "array", "items": {}}},
        num_rows=_I,
        num_row_groups=_I,
        num_columns=_I,
        created_by=_S,
        delimiter=_S,
        text=_S,
        message={"type": "string", "description": "why rows or text are not shown"},
    ),
    "ObjectCopyCreation": _obj(["src_path"], src_path=_S, src_ref=_S, force=_B, shallow=_B),
    "StagingLocation": _obj([], physical_address=_S, presigned_url=_S, presigned_url_expiry=_I),
    "StagingMetadata": _obj(
        ["staging", "checksum", "size_bytes"],
        staging=_ref("StagingLocation"),
        checksum=_S,
        size_bytes=_I,
        user_metadata=_MAP,
        content_type=_S,
        mtime=_I,
        force=_B,
    ),
    "PathList": _obj(["paths"], paths={"type": "array", "items": _S, "maxItems": 1000}),
    "ObjectErrorList": _obj(
        ["errors"],
        errors={
            "type": "array",
            "items": _obj(["status_code", "message"], status_code=_I, message=_S, path=_S),
        },
    ),
    "Diff": _obj(
        ["type", "path", "path_type"],
        type={
            "type": "string",
            "enum": ["added", "removed", "changed", "conflict", "prefix_changed"],
        },
        path=_S,
        path_type={"type": "string", "enum": ["object", "common_prefix"]},
        size_bytes=_I,
        right=_obj(
            ["checksum", "mtime", "content_type"],
            checksum=_S,
            mtime=_I,
            content_type=_S,
            metadata=_MAP,
        ),
    ),
    "DiffList": _list_of("Diff"),
    "BranchProtectionRules": {
        "type": "array",
        "items": _obj(["pattern"], pattern={"type": "string", "minLength": 1}),
    },
    "User": _obj(["id", "creation_date"], id=_S, creation_date=_I, admin=_B),
    "UserList": _list_of("User"),
    "UserCreation": _obj(["id"], id=_S, admin=_B),
    "CurrentUser": _obj(["user"], user=_ref("User"), access_key_id=_S),
    "LoginInformation": _obj(
        ["access_key_id", "secret_access_key"], access_key_id=_S, secret_access_key=_S
    ),
    "Session": _obj(
        ["user", "access_key_id", "csrf_token", "created", "expires"],
        user=_ref("User"),
        access_key_id=_S,
        csrf_token={"type": "string", "description": "send as X-CSRF-Token on mutating calls"},
        created=_I,
        expires=_I,
    ),
    "Credentials": _obj(["access_key_id", "creation_date"], access_key_id=_S, creation_date=_I),
    "CredentialsList": _list_of("Credentials"),
    "CredentialsCreation": _obj(
        [],
        access_key_id={"type": "string", "description": "optional; generated if absent"},
        secret_access_key={"type": "string", "description": "optional; generated if absent"},
    ),
    "CredentialsWithSecret": _obj(
        ["access_key_id", "secret_access_key", "creation_date"],
        access_key_id=_S,
        secret_access_key=_S,
        creation_date=_I,
        user_id=_S,
    ),
    "Grant": _obj(
        ["id", "repository", "branch", "action"],
        id=_S,
        repository={"type": "string", "description": "fnmatch glob of repository names"},
        branch={"type": "string", "description": "fnmatch glob of branch names"},
        action={"type": "string", "enum": ["read", "write", "commit", "admin"]},
    ),
    "GrantCreation": _obj(
        ["action"],
        repository=_S,
        branch=_S,
        action={"type": "string", "enum": ["read", "write", "commit", "admin"]},
    ),
    "GrantList": _list_of("Grant"),
    **RUN_SCHEMAS,
}


def register_schemas(schemas: dict[str, JSON]) -> None:
    """Add a feature's shapes to the document (each route module documents its own, so this
    module does not grow with every feature). Raises ValueError on a clashing redefinition."""
    for name, schema in schemas.items():
        if SCHEMAS.get(name, schema) != schema:
            raise ValueError(f"OpenAPI schema {name!r} is defined twice, differently")
        SCHEMAS[name] = schema


# Building blocks for route modules that register their own schemas.
STRING, INTEGER, BOOLEAN, STRING_MAP = _S, _I, _B, _MAP


def ref(name: str) -> JSON:
    """A ``$ref`` to a schema of this document."""
    return _ref(name)


def obj(required: Iterable[str], **props: JSON) -> JSON:
    """An object schema with these properties."""
    return _obj(required, **props)


def list_of(item: str) -> JSON:
    """A paginated ``{pagination, results}`` list of ``item``."""
    return _list_of(item)


_STANDARD_ERRORS = {
    401: "unauthenticated",
    403: "not allowed",
    404: "not found",
    400: "bad request",
}


def _path_params(path: str) -> list[JSON]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _S,
            "description": "percent-encoded",
        }
        for name in re.findall(r"{(\w+)}", path)
    ]


def _response(status: int, schema: str | None) -> JSON:
    description = "success" if status < 300 else "see the message"
    if schema is None:
        return {"description": description}
    if schema.startswith("@"):
        media: JSON = {"schema": {"type": "string", "format": "binary"}}
        return {"description": description, "content": {schema[1:]: media}}
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _operation(spec: RouteSpec) -> JSON:
    params = _path_params(spec.path)
    for q in spec.query:
        schema: JSON = {"type": "array", "items": _S} if q.type == "array" else {"type": q.type}
        param: JSON = {"name": q.name, "in": "query", "required": q.required, "schema": schema}
        if q.description:
            param["description"] = q.description
        params.append(param)
    responses = {str(s): _response(s, name) for s, name in spec.responses.items()}
    if not spec.public:
        for status, text in _STANDARD_ERRORS.items():
            responses.setdefault(
                str(status),
                {"description": text, "content": {"application/json": {"schema": _ref("Error")}}},
            )
    op: JSON = {
        "operationId": spec.operation_id,
        "summary": spec.summary,
        "tags": [spec.tag],
        "parameters": params,
        "responses": responses,
    }
    if spec.public:
        op["security"] = []
    if spec.body == "@raw":
        op["requestBody"] = {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": _obj([], content={"type": "string", "format": "binary"})
                },
            }
        }
    elif spec.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(spec.body)}},
        }
    return op


def build_document(routes: Iterable[RouteSpec], version: str, prefix: str = "/api/v1") -> JSON:
    """The OpenAPI 3.0 document for ``routes`` (paths relative to ``prefix``)."""
    paths: dict[str, JSON] = {}
    for spec in routes:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Weir admin API",
            "version": version,
            "description": "lakeFS-compatible subset (/api/v1) plus Weir's extensions: full "
            "merge-conflict reports, per-path merge resolutions, commit of a "
            "subset of paths, users, access keys, grants, branch protection, isolated runs, "
            "browser sessions.",
        },
        "servers": [{"url": prefix}],
        "security": [{"basic_auth": []}, {"session_cookie": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basic_auth": {"type": "http", "scheme": "basic"},
                "session_cookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "weir_session",
                    "description": "from POST /auth/session; mutating calls also need the "
                    "session's X-CSRF-Token header",
                },
            },
            "schemas": SCHEMAS,
        },
    }

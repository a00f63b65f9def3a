"""The audit trail (Weir): read it, and check its hash chain. Admins only (a repository's
admins may read the records of their repository)."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from aiohttp import web

from gateway.admin import openapi, schemas
from gateway.admin.params import amount, q_datetime, q_int, q_str
from gateway.admin.routing import ADMIN_GLOBAL, PAGINATION, Param, RouteSpec, authorize, lake_of
from gateway.audit import log
from gateway.core.access import Action


def record_json(rec: log.Record) -> dict[str, Any]:
    when = datetime.datetime.fromtimestamp(rec.time, tz=datetime.UTC)
    return {
        "seq": rec.seq,
        "time": rec.time,
        "time_iso": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "hash": rec.hash.hex(),
        "prev": rec.prev.hex(),
        **{str(k): v for k, v in rec.fields.items()},
    }


async def list_audit(request: web.Request) -> web.Response:
    """Newest first; ``after`` is the ``next_offset`` of the previous page (a sequence)."""
    repository = q_str(request, "repository")
    await authorize(request, Action.ADMIN, repository or None)
    limit = amount(request)
    after = q_int(request, "after", 0, minimum=0)
    user = q_str(request, "user")
    since, until = q_datetime(request, "since"), q_datetime(request, "until")
    page = await lake_of(request).kv.read(
        lambda r: log.query(
            r,
            repository=repository,
            user=user,
            since=since,
            until=until,
            before=after or None,
            limit=limit,
        )
    )
    rows = [record_json(r) for r in page.records]
    more = page.next_before is not None
    return web.json_response(schemas.page(rows, more, str(page.next_before or ""), limit))


async def verify_audit(request: web.Request) -> web.Response:
    """Walks the whole chain (in a worker thread): 200 whether or not it holds; ``ok`` says."""
    verdict = await asyncio.to_thread(log.verify, lake_of(request).kv)
    return web.json_response(
        {
            "ok": verdict.ok,
            "records": verdict.records,
            "head": verdict.head.hex(),
            "broken_at": verdict.broken_at,
            "reason": verdict.reason,
        }
    )


_S, _I = openapi.STRING, openapi.INTEGER
openapi.register_schemas(
    {
        "AuditRecord": openapi.obj(
            ["seq", "time", "time_iso", "hash", "prev", "api", "operation", "user", "result"],
            seq=_I,
            time={"type": "number", "description": "unix seconds; never decreases"},
            time_iso=_S,
            hash={"type": "string", "description": "blake3 of the stored record"},
            prev={"type": "string", "description": "hash of the previous record"},
            api={"type": "string", "enum": ["s3", "admin", "system"]},
            operation=_S,
            user=_S,
            access_key_id=_S,
            address=_S,
            request_id=_S,
            repository=_S,
            ref=_S,
            path=_S,
            result={"type": "string", "enum": ["ok", "error"]},
            detail=_S,
        ),
        "AuditRecordList": openapi.list_of("AuditRecord"),
        "AuditVerdict": openapi.obj(
            ["ok", "records", "head", "broken_at", "reason"],
            ok=openapi.BOOLEAN,
            records=_I,
            head={"type": "string", "description": "hash of the last record (pin it elsewhere)"},
            broken_at={**_I, "nullable": True, "description": "first broken link's position"},
            reason=_S,
        ),
    }
)

ROUTES = [
    RouteSpec(
        "GET",
        "/audit",
        list_audit,
        "listAudit",
        "Weir: the audit trail, newest first (admins; a repository's admins with `repository`)",
        "audit",
        query=[
            Param("repository"),
            Param("user"),
            Param("since", description="RFC 3339 date-time"),
            Param("until", description="RFC 3339 date-time"),
            *PAGINATION,
        ],
        responses={200: "AuditRecordList"},
    ),
    RouteSpec(
        "GET",
        "/audit/verify",
        verify_audit,
        "verifyAudit",
        "Weir: check the audit trail's hash chain; the first broken link and its position",
        "audit",
        checks=[ADMIN_GLOBAL],
        responses={200: "AuditVerdict"},
    ),
]

"""Parsing request parameters and JSON bodies, once, at the edge.

Every parse failure raises ``InvalidArgument`` (400 through ``admin/errors.py``). Booleans are
parsed case-insensitively because the lakeFS SDK sends ``True``/``False``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.core.errors import InvalidArgument

DEFAULT_AMOUNT = 100
MAX_AMOUNT = 1000
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


def q_str(request: web.Request, name: str, default: str = "") -> str:
    return request.query.get(name, default)


def q_required(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if value is None:
        raise InvalidArgument(f"query parameter {name!r} is required")
    return value


def q_bool(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise InvalidArgument(f"query parameter {name!r} must be true or false, not {value!r}")


def q_int(
    request: web.Request, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
) -> int:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidArgument(f"query parameter {name!r} must be an integer") from None
    if number < minimum or (maximum is not None and number > maximum):
        raise InvalidArgument(f"query parameter {name!r} is out of range")
    return number


def q_datetime(request: web.Request, name: str) -> float | None:
    """An RFC 3339 date-time query parameter as unix seconds (None when absent)."""
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"{name} must be an RFC 3339 date-time, got {raw!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def q_list(request: web.Request, name: str) -> list[str]:
    """A repeated query parameter (``objects=a&objects=b``); empty values dropped."""
    return [v for v in request.query.getall(name, []) if v]


def amount(request: web.Request) -> int:
    """Page size: lakeFS defaults to 100 and caps at 1000 (a larger request is capped)."""
    value = q_int(request, "amount", DEFAULT_AMOUNT, minimum=-1)
    if value <= 0:
        return DEFAULT_AMOUNT
    return min(value, MAX_AMOUNT)


async def read_json_value(request: web.Request) -> Any:
    """The request's JSON body, any JSON value (bounded by the app's ``client_max_size``);
    None for an empty body."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("the request body is not valid JSON") from None


async def read_json(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    """The request's JSON object body (bounded by the app's ``client_max_size``)."""
    body = await read_json_value(request)
    if body is None:
        if required:
            raise InvalidArgument("a JSON request body is required")
        return {}
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object")
    return body


def j_str(body: Mapping[str, Any], key: str, default: str | None = None) -> str:
    """A string field; required when ``default`` is None."""
    value = body.get(key)
    if value is None:
        if default is None:
            raise InvalidArgument(f"field {key!r} is required")
        return default
    if not isinstance(value, str):
        raise InvalidArgument(f"field {key!r} must be a string")
    return value


def j_opt_str(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidArgument(f"field {key!r} must be a string")
    return value


def j_bool(body: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidArgument(f"field {key!r} must be a boolean")
    return value


def j_int(body: Mapping[str, Any], key: str, default: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"field {key!r} must be an integer")
    return value


def j_map(body: Mapping[str, Any], key: str) -> dict[str, str]:
    """A string -> string map (commit metadata); missing or null gives {}."""
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidArgument(f"field {key!r} must be an object of strings")
    return dict(value)


def j_str_list(body: Mapping[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"field {key!r} must be a list of strings")
    return value


def j_list(body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgument(f"field {key!r} must be a list")
    return value

"""The OpenLineage JSON Schema for the events Weir emits, as the ``openlineage-python`` package
ships it, offline.

No package reachable offline ships ``OpenLineage.json`` itself (checked: the openlineage-python
wheel and sdist, openlineage-integration-common, the Airflow provider, Debian). What the
package does ship is its model generated from that spec and the facet specs (``openlineage
.client.generated``: one attrs class per ``$defs`` entry, each naming its schema URL). This
module turns those classes back into a JSON Schema (draft 2020-12): every required property,
every type, enums, nested objects, and the formats the spec declares (``date-time`` for
``eventTime``, ``uuid`` for run ids, ``uri`` for producers and schema URLs). Facets Weir sends
are checked against their own facet class; any other facet against the base facet rule
(``_producer`` and ``_schemaURL`` required). Validation uses ``jsonschema`` with format checks.
"""

from __future__ import annotations

import datetime
import enum
import types
import typing
import uuid
from typing import Any
from urllib.parse import urlparse

import attr
import jsonschema
from openlineage.client.event_v2 import RunEvent
from openlineage.client.facet_v2 import (
    BaseFacet,
    dataset_version_dataset,
    error_message_run,
    execution_parameters_run,
    job_type_job,
    processing_engine_run,
)

#: Facets Weir emits, by key, with the class (and so the spec) each must match.
KNOWN_FACETS: dict[str, type[Any]] = {
    "version": dataset_version_dataset.DatasetVersionDatasetFacet,
    "jobType": job_type_job.JobTypeJobFacet,
    "processing_engine": processing_engine_run.ProcessingEngineRunFacet,
    "executionParameters": execution_parameters_run.ExecutionParametersRunFacet,
    "errorMessage": error_message_run.ErrorMessageRunFacet,
}
#: Filled in by ``__attrs_post_init__`` on every instance: always present in the JSON.
_ALWAYS_SET = {"producer", "schemaURL", "_producer", "_schemaURL"}
_FORMATS = {
    "eventTime": "date-time",
    "runId": "uuid",
    "producer": "uri",
    "schemaURL": "uri",
    "_producer": "uri",
    "_schemaURL": "uri",
}


def _type_schema(tp: Any, defs: dict[str, Any], facet_key: str | None = None) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(options) == 1:
            return _type_schema(options[0], defs, facet_key)
        return {"anyOf": [_type_schema(a, defs) for a in options]}
    if origin is list:
        return {"type": "array", "items": _type_schema(typing.get_args(tp)[0], defs)}
    if origin is dict:
        value_type = typing.get_args(tp)[1]
        schema: dict[str, Any] = {
            "type": "object",
            "additionalProperties": _type_schema(value_type, defs),
        }
        if isinstance(value_type, type) and issubclass(value_type, BaseFacet):
            schema["properties"] = {
                key: _class_ref(cls, defs)
                for key, cls in KNOWN_FACETS.items()
                if issubclass(cls, value_type)
            }
        return schema
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if attr.has(tp):
        return _class_ref(tp, defs)
    if tp is Any or tp is object:
        return {}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _class_ref(cls: type[Any], defs: dict[str, Any]) -> dict[str, Any]:
    name = f"{cls.__module__}.{cls.__qualname__}"
    if name not in defs:
        defs[name] = {}  # placeholder: recursion
        hints = typing.get_type_hints(cls)
        props: dict[str, Any] = {}
        required: list[str] = []
        for f in attr.fields(cls):
            schema = _type_schema(hints[f.name], defs)
            if f.name in _FORMATS:
                schema = {**schema, "format": _FORMATS[f.name]}
            props[f.name] = schema
            no_default = f.default is attr.NOTHING and f.init
            if no_default or f.name in _ALWAYS_SET:
                required.append(f.name)
        defs[name] = {"type": "object", "properties": props, "required": required}
    return {"$ref": f"#/$defs/{name}"}


def run_event_schema() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    root = _class_ref(RunEvent, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **root, "$defs": defs}


_checker = jsonschema.FormatChecker()


@_checker.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(uuid.UUID(value))


@_checker.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return "T" in value and moment.tzinfo is not None


@_checker.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlparse(value).scheme)


def validate(event: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``event`` is a valid OpenLineage RunEvent."""
    schema = run_event_schema()
    jsonschema.Draft202012Validator(schema, format_checker=_checker).validate(event)

"""Assertions shared by the conformance tests: what an S3 error response must look like.

Every S3 error carries an HTTP status, an XML body with ``Code``, ``Message`` and ``RequestId``
(except on HEAD, which has no body), and an ``x-amz-request-id`` header naming the same request.
These helpers check all of it that each kind of response exposes: boto3 hides the raw body, so
the ``RequestId`` element is checked on raw responses only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

from botocore.exceptions import ClientError

from conformance.rawhttp import Response


class _Caught:
    """Holds the ClientError caught by :func:`client_error`, for further assertions."""

    error: ClientError | None = None

    @property
    def response(self) -> dict[str, Any]:
        assert self.error is not None
        return dict(self.error.response)


@contextlib.contextmanager
def client_error(status: int, code: str | None) -> Iterator[_Caught]:
    """Expect the boto3 call in the block to fail with ``status`` and S3 error ``code``.

    Pass ``code=None`` for HEAD requests, whose error responses have no body.
    """
    caught = _Caught()
    try:
        yield caught
    except ClientError as exc:
        caught.error = exc
    else:
        raise AssertionError(f"expected {status} {code}, but the call succeeded")
    response = caught.response
    meta = response.get("ResponseMetadata", {})
    error = response.get("Error", {})
    got = (meta.get("HTTPStatusCode"), error.get("Code"))
    assert meta.get("HTTPStatusCode") == status, f"expected {status} {code}, got {got}"
    if code is not None:
        assert error.get("Code") == code, f"expected {status} {code}, got {got}"
        assert error.get("Message"), f"{code} error has no Message"
    headers = meta.get("HTTPHeaders", {})
    assert headers.get("x-amz-request-id"), "error response has no x-amz-request-id header"


def raw_error(resp: Response, status: int, code: str | None) -> None:
    """Assert a raw response is the S3 error ``code`` with ``status``, XML body and request id."""
    got = (resp.status, resp.error_code(), resp.body[:300])
    assert resp.status == status, f"expected {status} {code}, got {got}"
    if code is not None:
        try:
            root = resp.xml()
        except ElementTree.ParseError:
            raise AssertionError(f"{status} error body is not XML: {resp.body[:300]!r}") from None
        assert root.tag == "Error", f"error body root is {root.tag}, not Error"
        assert root.findtext("Code") == code, f"expected {status} {code}, got {got}"
        assert root.findtext("Message"), f"{code} error has no Message"
    request_id = resp.header("x-amz-request-id")
    assert request_id, "error response has no x-amz-request-id header"
    if code is not None:
        # AWS repeats the request id in the error body; both name the same request.
        assert root.findtext("RequestId") == request_id, (
            f"error body RequestId {root.findtext('RequestId')!r} != header {request_id!r}"
        )


def raw_ok(resp: Response, status: int = 200) -> None:
    """Assert a raw response succeeded with ``status``."""
    assert resp.status == status, f"expected {status}, got {resp.status}: {resp.body[:500]!r}"

"""Zero-copy imports from Python: the ``/import`` routes of the admin API (lakeFS's shapes).

Standard library only, like the rest of ``gateway.client``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from gateway.client.api import AdminClient, Json


def _seg(value: str) -> str:
    return quote(value, safe="")


class ImportsApi:
    """Start, follow and cancel imports over an :class:`AdminClient`."""

    def __init__(self, client: AdminClient) -> None:
        self.client = client

    def _path(self, repo: str, branch: str) -> str:
        return f"/repositories/{_seg(repo)}/branches/{_seg(branch)}/import"

    def start(
        self,
        repo: str,
        branch: str,
        sources: Sequence[tuple[str, str, str]],
        *,
        message: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Start an import of ``(type, s3 url, destination)`` sources; its id."""
        body: dict[str, Any] = {
            "paths": [{"type": t, "path": p, "destination": d} for t, p, d in sources],
            "commit": {"message": message, "metadata": dict(metadata or {})},
        }
        reply = self.client.request("POST", self._path(repo, branch), json_body=body)
        return str(reply["id"])

    def status(self, repo: str, branch: str, import_id: str) -> Json:
        return self.client.request("GET", self._path(repo, branch), query={"id": import_id})

    def cancel(self, repo: str, branch: str, import_id: str) -> None:
        self.client.request("DELETE", self._path(repo, branch), query={"id": import_id})

    def list(self, repo: str) -> list[Json]:
        reply = self.client.request("GET", f"/repositories/{_seg(repo)}/imports")
        return list(reply["results"])

"""The public Python client of Weir's ``/api/v1``: used by the ``weir`` CLI and by jobs.

It depends on nothing of the server (standard library only), so a job can import it in any
environment where the ``weir`` package is installed.
"""

from gateway.client.api import CHUNK_SIZE, AdminClient, ApiError, ConnectionFailed

__all__ = ["CHUNK_SIZE", "AdminClient", "ApiError", "ConnectionFailed"]

"""Authentication failures carrying the HTTP answer Airflow gives for them.

The Airflow web UI sends the browser to the login page on any 401 and on a 403 whose detail
is exactly ``Invalid JWT token``, so these strings are part of the contract.
"""

from __future__ import annotations

NOT_AUTHENTICATED = "Not authenticated"
TOKEN_EXPIRED = "Token Expired"
INVALID_TOKEN = "Invalid JWT token"
FORBIDDEN = "Forbidden"
INVALID_CREDENTIALS = "Invalid credentials"


class AuthError(Exception):
    """A request cannot proceed: ``status`` and ``detail`` are the HTTP answer, ``reason`` the
    label of ``leoflow_auth_failures_total``."""

    def __init__(
        self,
        status: int,
        detail: str,
        reason: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason
        self.headers = headers

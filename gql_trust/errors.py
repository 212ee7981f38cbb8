"""The project's error types.

Every error a caller may see is a ``TrustError`` carrying a stable
``extensions.code``; anything else is masked before it leaves the server.
Driver exceptions are translated at the source boundary (``raise ... from``).
"""

from __future__ import annotations

from typing import Any


class TrustError(Exception):
    """Base error: its message and ``extensions`` are safe to show to any caller."""

    code = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code, **extensions}


class ConfigError(TrustError):
    """The settings file, a contract or a policy file is wrong."""

    code = "CONFIG_ERROR"


class Unauthenticated(TrustError):
    """A token was sent but proves nothing: malformed, expired, wrongly signed, ... (HTTP 401)."""

    code = "UNAUTHENTICATED"


class InvalidQuery(TrustError):
    """The caller asked for something that cannot be answered as asked."""

    code = "BAD_USER_INPUT"


class Forbidden(TrustError):
    """Policy denies the caller something the query selects, filters or groups by."""

    code = "FORBIDDEN"


class NotFound(TrustError):
    """The caller named something that does not exist, e.g. an unknown area code."""

    code = "NOT_FOUND"


class SourceUnavailable(TrustError):
    """A departmental source could not be reached or failed while answering."""

    code = "SOURCE_UNAVAILABLE"


class SourceTimeout(TrustError):
    """A departmental source took longer than its statement timeout."""

    code = "SOURCE_TIMEOUT"


class LedgerUnavailable(TrustError):
    """The extraction ledger cannot record the request, so nothing is released (HTTP 503)."""

    code = "LEDGER_UNAVAILABLE"


class PrivacyBudgetExceeded(TrustError):
    """Releasing the result would exceed the agreement's privacy-loss budget: no data."""

    code = "PRIVACY_BUDGET_EXCEEDED"


class BudgetExceeded(TrustError):
    """Releasing the result would exceed the agreement's daily cell budget: no data."""

    code = "EXTRACTION_BUDGET_EXCEEDED"

"""The exception tree: everything the library raises on purpose sits under one base.

::

    BrazeError
    ├── ConfigError (also ValueError)          bad key, endpoint or settings
    ├── TidyFrameError (also ValueError)       a frame that is not a tidy braze frame
    ├── BrazeConnectionError                   network failure after retries
    ├── UnexpectedResponseError                HTML, truncated or malformed JSON
    └── BrazeAPIError                          an error status, or a 200 whose message is not "success"
        ├── AuthenticationError                401
        ├── PermissionDeniedError              403
        └── RateLimitError                     429 after retries, or a reset too far away

    UnknownFieldWarning (a UserWarning)        unknown channels or metrics, kept
    DataRepairWarning (a UserWarning)          input repaired: duplicate days, numeric strings...

Errors carry what a person needs: the status, Braze's message, the URL without secrets and
a hint. They hold no request object, so nothing can leak the Authorization header, and they
stay picklable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AuthenticationError",
    "BrazeAPIError",
    "BrazeConnectionError",
    "BrazeError",
    "ConfigError",
    "DataRepairWarning",
    "PermissionDeniedError",
    "RateLimitError",
    "TidyFrameError",
    "UnexpectedResponseError",
    "UnknownFieldWarning",
    "redact",
]


#: What stands where the API key was.
REDACTED = "<redacted>"


def redact(text: str, secret: str | None) -> str:
    """Replace every occurrence of ``secret`` (the API key) in ``text``.

    The one redaction rule of the library: any non-empty key, whatever its length, is
    replaced wherever it appears, quotes and surrounding whitespace stripped first (as
    ``resolve_api_key`` strips them). A message garbled by a very short key is better than
    a key shown.

    Examples:
        >>> redact("bad key 0000-abcd", " '0000-abcd' ")
        'bad key <redacted>'
    """
    key = (secret or "").strip().strip("'\"").strip()
    return text.replace(key, REDACTED) if key else text


class BrazeError(Exception):
    """Base class of every error braze_frames raises on purpose."""

    def __init__(self, message: str, *, url: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.url:
            text += f" (url: {self.url})"
        if self.hint:
            text += f" Hint: {self.hint}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields would be lost by Exception's default pickling.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[BrazeError], state: dict[str, Any]) -> BrazeError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


class ConfigError(BrazeError, ValueError):
    """The client's settings are missing or invalid (key, endpoint, options)."""


class BrazeConnectionError(BrazeError):
    """The server could not be reached, or a response was cut off, after every retry."""


class UnexpectedResponseError(BrazeError):
    """A body that is not what Braze sends: HTML, truncated or malformed JSON, wrong shape."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        hint: str | None = None,
        status: int | None = None,
        body_excerpt: str | None = None,
    ) -> None:
        super().__init__(message, url=url, hint=hint)
        self.status = status
        self.body_excerpt = body_excerpt


class BrazeAPIError(BrazeError):
    """Braze answered with an error status, or a 200 whose ``message`` is not ``"success"``.

    Attributes:
        status: The HTTP status code.
        braze_message: Braze's own ``message`` from the body, when it sent one.
        errors: Braze's ``errors`` list, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        braze_message: str | None = None,
        errors: Any = None,
        url: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, url=url, hint=hint)
        self.status = status
        self.braze_message = braze_message
        self.errors = errors


class AuthenticationError(BrazeAPIError):
    """401: the key is invalid, quoted, or belongs to another REST instance."""


class PermissionDeniedError(BrazeAPIError):
    """403: the key lacks a permission (such as ``campaigns.data_series``) or the plan does."""


class RateLimitError(BrazeAPIError):
    """429 after every retry, or a reset further away than the client's maximum wait.

    Attributes:
        retry_after: Seconds until the budget resets, when the server said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("status", 429)
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class UnknownFieldWarning(UserWarning):
    """Channels or metrics the library does not know were found; they are kept as they are."""


class DataRepairWarning(UserWarning):
    """The input needed a repair (duplicate day, numeric string, unnamed variation...)."""


class TidyFrameError(BrazeError, ValueError):
    """A frame is not a tidy braze frame (SPEC section 3).

    Attributes:
        problems: One line per problem found (missing or extra columns, wrong dtypes,
            duplicated keys).
        failure_cases: For duplicated keys, a small frame of the caller's backend with the
            duplicated keys and a ``count`` column (at most 100 rows); None otherwise.
        n_failure_cases: How many duplicated keys there are in all.
    """

    def __init__(
        self,
        message: str,
        *,
        problems: Sequence[str] = (),
        failure_cases: Any = None,
        n_failure_cases: int = 0,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = tuple(problems)
        self.failure_cases = failure_cases
        self.n_failure_cases = n_failure_cases

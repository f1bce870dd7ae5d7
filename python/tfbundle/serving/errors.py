"""Status codes of the serving protocols: tfbundle's errors -> TF Serving's HTTP status codes.

Every error a request meets is a :class:`tfbundle.Error` carrying TensorFlow's status code; TF
Serving's HTTP server maps those codes to HTTP status codes (its ``ToHTTPStatusCode``), and so
does this. KServe's v2 protocol gives errors the same ``{"error": "..."}`` body.
"""

from __future__ import annotations

from ..errors import ClosedError, Error

__all__ = ["CODE_NAMES", "http_status", "status_name"]

#: TensorFlow's status codes by number (error_codes.proto), as TF Serving names them in JSON.
CODE_NAMES = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}

# TF Serving's http_server.cc: status code -> HTTP status (anything else: 500).
_HTTP = {
    0: 200,
    1: 499,
    2: 500,
    3: 400,
    4: 504,
    5: 404,
    6: 409,
    7: 403,
    8: 429,
    9: 400,
    10: 409,
    11: 400,
    12: 501,
    13: 500,
    14: 503,
    15: 500,
    16: 401,
}

_UNAVAILABLE = 14


def _code(error: BaseException) -> int:
    if isinstance(error, ClosedError):  # the model closed under the request: the server is stopping
        return _UNAVAILABLE
    if isinstance(error, Error):
        code = int(error.code)
        return code if code in CODE_NAMES else 2
    return 2


def http_status(error: BaseException) -> int:
    """The HTTP status code TF Serving answers an error with."""
    return _HTTP.get(_code(error), 500)


def status_name(error: BaseException | None) -> str:
    """The status code's name (``"OK"`` for None), the label of the request counter."""
    return "OK" if error is None else CODE_NAMES[_code(error)]

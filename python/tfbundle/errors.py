"""tfbundle's exceptions: one hierarchy under :class:`Error`.

There is one class for each TensorFlow status code, under the names TensorFlow's
users know (``NotFoundError``, ``InvalidArgumentError``, ...). Each also derives
from the builtin exception a Python user would catch (``FileNotFoundError``,
``ValueError``, ``LookupError``, ...), so ``except ValueError`` keeps working.
TensorFlow's own message is kept word for word. The classes are plain Python
classes, so they pickle across processes (Ray, Spark, multiprocessing).
"""

from __future__ import annotations

__all__ = [
    "Error",
    "CancelledError",
    "UnknownError",
    "InvalidArgumentError",
    "DeadlineExceededError",
    "NotFoundError",
    "AlreadyExistsError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "FailedPreconditionError",
    "AbortedError",
    "OutOfRangeError",
    "UnimplementedError",
    "InternalError",
    "UnavailableError",
    "DataLossError",
    "UnauthenticatedError",
    "TensorFlowNotFoundError",
    "ClosedError",
    "SignatureNotFoundError",
    "CheckpointKeyError",
    "InvalidTypeError",
    "error_for_code",
]


class Error(Exception):
    """Base class of every error tfbundle raises.

    Attributes:
        code: TensorFlow's status code (``tensorflow/c/tf_status.h``), e.g. 3 for
            INVALID_ARGUMENT.
        message: the message, as TensorFlow or tfbundle wrote it.
    """

    code: int = 2

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[type[Error], tuple[str]]:  # simple pickling for multi-inheritance
        return (type(self), (self.message,))


class CancelledError(Error):
    """The operation was cancelled (CANCELLED)."""

    code = 1


class UnknownError(Error):
    """An error TensorFlow could not classify (UNKNOWN)."""

    code = 2


class InvalidArgumentError(Error, ValueError):
    """A bad argument: wrong shape, bad value, malformed input (INVALID_ARGUMENT)."""

    code = 3


class DeadlineExceededError(Error, TimeoutError):
    """The deadline passed before the operation finished (DEADLINE_EXCEEDED)."""

    code = 4


class NotFoundError(Error, FileNotFoundError):
    """A file, folder, tag-set, signature, tensor or op was not found (NOT_FOUND)."""

    code = 5


class AlreadyExistsError(Error, FileExistsError):
    """Something to be created exists already (ALREADY_EXISTS)."""

    code = 6


class PermissionDeniedError(Error, PermissionError):
    """Not allowed: file permissions, or a policy refused the model (PERMISSION_DENIED)."""

    code = 7


class ResourceExhaustedError(Error, MemoryError):
    """Out of memory or another resource (RESOURCE_EXHAUSTED)."""

    code = 8


class FailedPreconditionError(Error, RuntimeError):
    """The system is not in a state to run this, e.g. an uninitialised variable (FAILED_PRECONDITION)."""

    code = 9


class AbortedError(Error, RuntimeError):
    """The operation was aborted (ABORTED)."""

    code = 10


class OutOfRangeError(Error, IndexError):
    """Past the end of a range or a sequence (OUT_OF_RANGE)."""

    code = 11


class UnimplementedError(Error, NotImplementedError):
    """Not implemented or not supported (UNIMPLEMENTED)."""

    code = 12


class InternalError(Error, RuntimeError):
    """An internal invariant broke (INTERNAL)."""

    code = 13


class UnavailableError(Error, RuntimeError):
    """A service is unavailable (UNAVAILABLE)."""

    code = 14


class DataLossError(Error, ValueError):
    """A file is truncated or corrupt (DATA_LOSS)."""

    code = 15


class UnauthenticatedError(Error, PermissionError):
    """Missing credentials (UNAUTHENTICATED)."""

    code = 16


class TensorFlowNotFoundError(FailedPreconditionError, ImportError):
    """TensorFlow's C library could not be found; the message says how to install one."""


class SignatureNotFoundError(NotFoundError, KeyError):
    """The model has no signature of that name (also a ``KeyError``, as mappings raise)."""

    def __str__(self) -> str:  # not KeyError's repr-of-the-key form
        return self.message


class ClosedError(FailedPreconditionError):
    """The model or reader was used after ``close()``."""


class CheckpointKeyError(NotFoundError, KeyError):
    """No tensor of that name in the checkpoint (a NotFoundError and a KeyError)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class InvalidTypeError(InvalidArgumentError, TypeError):
    """An argument of the wrong Python type or numpy dtype (also a ``TypeError``)."""


_BY_CODE: dict[int, type[Error]] = {
    cls.code: cls
    for cls in (
        CancelledError,
        UnknownError,
        InvalidArgumentError,
        DeadlineExceededError,
        NotFoundError,
        AlreadyExistsError,
        PermissionDeniedError,
        ResourceExhaustedError,
        FailedPreconditionError,
        AbortedError,
        OutOfRangeError,
        UnimplementedError,
        InternalError,
        UnavailableError,
        DataLossError,
        UnauthenticatedError,
    )
}


_BY_CODE[1000] = ClosedError  # tfbundle's own code for use after close()
_BY_CODE[1001] = InvalidTypeError  # tfbundle's own code: INVALID_ARGUMENT that is a TypeError


def error_for_code(code: int, message: str) -> Error:
    """Returns the exception instance for a TensorFlow status code and message."""
    return _BY_CODE.get(code, UnknownError)(message)

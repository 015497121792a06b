"""Exceptions: one gitc.Error subclass per gitc_status, carrying the library's message."""


class Error(Exception):
    """A failure reported by libgitc (or by the package for a bad argument).

    `message` is the library's message, which names the file and the problem;
    `status` the gitc_status code (see include/gitc.h)."""

    status = -1

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class IoError(Error, OSError):
    """A file is missing or cannot be read or written (GITC_ERR_IO)."""

    status = 1

    def __str__(self):
        return self.message


class FormatError(Error):
    """A file is malformed: JSON, safetensors, image (GITC_ERR_FORMAT)."""

    status = 2


class UnsupportedError(Error):
    """Valid but not supported: dtype, codec, option (GITC_ERR_UNSUPPORTED)."""

    status = 3


class ShapeError(Error):
    """A tensor or input disagrees with the config (GITC_ERR_SHAPE)."""

    status = 4


class ArgumentError(Error, ValueError):
    """An invalid argument or setting (GITC_ERR_ARGUMENT)."""

    status = 5


class LimitError(Error):
    """An input exceeds a configured limit (GITC_ERR_LIMIT)."""

    status = 6


class OutOfMemoryError(Error, MemoryError):
    """Out of memory (GITC_ERR_MEMORY)."""

    status = 7


class AbortedError(Error):
    """Stopped by the abort callback (GITC_ERR_ABORTED)."""

    status = 8


_BY_STATUS = {
    cls.status: cls
    for cls in (IoError, FormatError, UnsupportedError, ShapeError, ArgumentError, LimitError,
                OutOfMemoryError, AbortedError)
}


def from_status(status, message):
    """The exception for a gitc_status and its message."""
    cls = _BY_STATUS.get(status, Error)
    return cls(message, status) if cls is Error else cls(message)

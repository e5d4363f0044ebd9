"""User-facing errors.

Every problem caused by the user's input (a missing file, silent audio, a photo without a face, a
malformed track) raises a subclass of :class:`EmodiffheadError` with a message that names the problem.
The CLI prints the message without a traceback; the server maps it to a 4xx response.
"""

from __future__ import annotations


class EmodiffheadError(Exception):
    """Base class of errors caused by user input or missing optional files; ``str(e)`` is for people."""

    #: HTTP status the server answers with for this error.
    http_status: int = 400


class InputFileError(EmodiffheadError):
    """A file the user named is missing, unreadable or of the wrong kind."""


class AudioError(EmodiffheadError):
    """The audio cannot be used: not audio, empty, all silence, too long."""


class FaceNotFoundError(EmodiffheadError):
    """The photo has no usable human face (none, too small, cut off)."""

    http_status = 422


class TrackError(EmodiffheadError):
    """A track file or object is malformed; the message names the field."""

    http_status = 422


class HeadModelError(EmodiffheadError):
    """A head model file (FLAME pickle/npz, landmark embedding) is missing or malformed."""


class NotAvailableError(EmodiffheadError):
    """An optional feature needs something that is not installed or configured (weights, DECA)."""

    http_status = 409


class CancelledError(EmodiffheadError):
    """Long work was cancelled through its cancel callback."""

    http_status = 409

"""Errors the stores and the face core raise; the gateway maps each to an HTTP status."""


class FacetagError(Exception):
    """Base class: the message is written for the person who will read it."""


class NotFound(FacetagError):
    """An id that names nothing (HTTP 404)."""


class Conflict(FacetagError):
    """The request clashes with what is stored, e.g. a person name already taken (HTTP 409)."""


class NotAllowed(FacetagError):
    """A well-formed request for more than the one it acts for may have, e.g. a token with scopes beyond its
    owner's role (HTTP 403)."""


class InvalidInput(FacetagError):
    """Input the service cannot use: wrong type, broken image, out-of-range box (HTTP 4xx)."""


class StoreUnavailable(FacetagError):
    """A store or the broker did not answer; the operation may succeed when retried (HTTP 503)."""

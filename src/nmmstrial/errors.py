"""Errors that mean "the user must change something": one clear line, no traceback."""


class NmmstrialError(Exception):
    """Refused on purpose; the message tells the user what to change."""


class ProtocolError(NmmstrialError, ValueError):
    """A study definition (YAML or dict) is malformed or inconsistent."""


class InvalidValueError(NmmstrialError, ValueError):
    """A value breaks the protocol: unknown visit or measure, range, type."""


class StoreError(NmmstrialError):
    """A study database cannot be opened, created or read."""


class ReportError(NmmstrialError):
    """The report cannot be written: no patients, or the output folder is unusable."""


class AccessError(NmmstrialError, PermissionError):
    """The user is unknown, the password wrong, or the role may not do this."""


class ConflictError(NmmstrialError):
    """Someone else changed the same record meanwhile; nothing was written."""

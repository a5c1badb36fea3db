"""Errors that mean "the user must change something": one clear line, no traceback."""


class NmmstrialError(Exception):
    """Refused on purpose; the message tells the user what to change."""


class ProtocolError(NmmstrialError, ValueError):
    """A study definition (YAML or dict) is malformed or inconsistent."""


class InvalidValueError(NmmstrialError, ValueError):
    """A value breaks the protocol: unknown visit or measure, range, type.

    `field`, when given, names the input the refusal is about, as the JSON API and the
    forms call it (`patient`, `time`, `measure`, `side`, `value`, `reason`, `term`, ...);
    the message says the same for people."""

    def __init__(self, *args: object, field: str | None = None) -> None:
        super().__init__(*args)
        self.field = field


class StoreError(NmmstrialError):
    """A study database cannot be opened, created or read."""


class ReportError(NmmstrialError):
    """The report cannot be written: no patients, or the output folder is unusable."""


class AccessError(NmmstrialError, PermissionError):
    """The user is unknown, the password wrong, or the role may not do this."""


class ConflictError(NmmstrialError):
    """Someone else changed the same record meanwhile; nothing was written."""


class LockedError(AccessError):
    """The database is locked: no entry is accepted any more."""


class StaleVersionError(ConflictError):
    """A value was changed since the version the user based the change on; `current` is
    the stored row (value, version, who entered it and when)."""

    def __init__(self, message: str, current: dict) -> None:
        super().__init__(message)
        self.current = current

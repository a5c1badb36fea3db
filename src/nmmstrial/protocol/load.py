"""Reading a study definition from YAML, with one clear error naming the field."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ProtocolError
from .model import Protocol

# Error types where the offending value helps the user find the line to fix.
SHOW_INPUT = {"literal_error", "int_parsing", "float_parsing", "int_type", "float_type"}


def _describe(error: dict[str, Any]) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"]
    if error["type"] in SHOW_INPUT:
        message = f"{message} (got {error['input']!r})"
    return f"{field}: {message}"


def protocol_from_dict(data: Any, *, source: str) -> Protocol:
    """Validate a parsed YAML document; raise ProtocolError naming the field."""
    if not isinstance(data, dict):
        raise ProtocolError(
            f"{source}: a study definition is a mapping of fields, got {type(data).__name__}"
        )
    try:
        return Protocol.model_validate(data)
    except ValidationError as error:
        raise ProtocolError(f"{source}: {_describe(error.errors()[0])}") from error


def protocol_from_text(text: str, *, source: str) -> Protocol:
    """Parse and validate a study definition. Cached by text: every read of a study
    parses its stored definition, and a Protocol is immutable (frozen), so sharing one
    is safe; failures are not cached."""
    return _protocol_from_text(text, source)


@lru_cache(maxsize=32)
def _protocol_from_text(text: str, source: str) -> Protocol:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ProtocolError(f"{source}: not valid YAML: {error}") from error
    return protocol_from_dict(data, source=source)


def load_protocol(path: Path | str) -> Protocol:
    """Read a study definition from a YAML file (the edge: touches the file system)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ProtocolError(
            f"{path}: cannot read the study definition: {error.strerror}"
        ) from error
    return protocol_from_text(text, source=str(path))


def reference_protocol() -> Protocol:
    """The reference trial's definition, shipped with the package."""
    text = resources.files(__package__).joinpath("reference.yaml").read_text(encoding="utf-8")
    return protocol_from_text(text, source="reference.yaml")


def reference_protocol_text() -> str:
    return resources.files(__package__).joinpath("reference.yaml").read_text(encoding="utf-8")


def paper_targets() -> dict[str, Any]:
    """Every number the reference paper reports (a copy of shared/paper/targets.yaml)."""
    text = resources.files(__package__).joinpath("paper_targets.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)

"""What people enter or import (validated against the protocol), and the tidy export."""

from .exports import FORMATS, data_dictionary, export_study
from .validate import validate_observations

__all__ = ["FORMATS", "data_dictionary", "export_study", "validate_observations"]

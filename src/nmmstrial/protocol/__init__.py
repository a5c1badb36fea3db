"""The study definition: visits, measures, stimulation dose, eligibility."""

from .load import (
    load_protocol,
    paper_targets,
    protocol_from_dict,
    protocol_from_text,
    reference_protocol,
    reference_protocol_text,
)
from .model import MRC_GRADES, Eligibility, Measure, MrcRule, Protocol, Stimulation, Visit

__all__ = [
    "MRC_GRADES",
    "Eligibility",
    "Measure",
    "MrcRule",
    "Protocol",
    "Stimulation",
    "Visit",
    "load_protocol",
    "paper_targets",
    "protocol_from_dict",
    "protocol_from_text",
    "reference_protocol",
    "reference_protocol_text",
]

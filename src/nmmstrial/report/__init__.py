"""The study report: Table 1, patient flow, outcomes by arm, adverse events, as one HTML page."""

from .figures import before_after_figure, figure_bytes, flow_figure, strength_figure
from .html import ReportError, write_report
from .tables import (
    adverse_event_counts,
    arm_labels,
    flow,
    flow_so_far,
    summary_by_arm,
    table1,
)

__all__ = [
    "ReportError",
    "adverse_event_counts",
    "arm_labels",
    "before_after_figure",
    "figure_bytes",
    "flow",
    "flow_figure",
    "flow_so_far",
    "strength_figure",
    "summary_by_arm",
    "table1",
    "write_report",
]

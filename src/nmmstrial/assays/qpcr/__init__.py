"""qPCR: read instrument exports, relative expression (2^-ddCt, Pfaffl), the split-body test."""

from .compare import CompareResult, compare_arms
from .expression import FoldResult, parse_undetermined, relative_expression, standard_curve
from .readers import QpcrExport, parse_qpcr_text, parse_qpcr_xlsx, read_qpcr_export

__all__ = [
    "CompareResult",
    "FoldResult",
    "QpcrExport",
    "compare_arms",
    "parse_qpcr_text",
    "parse_qpcr_xlsx",
    "parse_undetermined",
    "read_qpcr_export",
    "relative_expression",
    "standard_curve",
]

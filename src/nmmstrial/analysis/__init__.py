"""Statistics that agree with R, and the analysis plans (the paper's and the recommended)."""

from .anova import RmAnova, rm_anova
from .mixed import DDF, MixedModel, mixed_model
from .multiplicity import METHODS, adjust_p
from .nonparametric import mann_whitney, wilcoxon_paired
from .parametric import paired_t, student_t, welch_t
from .plans import PLANS, PlanResult, run_plan
from .posthoc import PostHoc, posthoc
from .results import TestResult

__all__ = [
    "DDF",
    "METHODS",
    "PLANS",
    "MixedModel",
    "PlanResult",
    "PostHoc",
    "RmAnova",
    "TestResult",
    "adjust_p",
    "mann_whitney",
    "mixed_model",
    "paired_t",
    "posthoc",
    "rm_anova",
    "run_plan",
    "student_t",
    "welch_t",
    "wilcoxon_paired",
]

"""Trial design: analytic sample size and power (simulation-based power is in `simulate`)."""

from .power import INFLATE, TESTS, PowerResult, enrolment, power_analysis, power_of

__all__ = ["INFLATE", "TESTS", "PowerResult", "enrolment", "power_analysis", "power_of"]

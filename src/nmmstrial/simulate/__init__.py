"""Synthetic trials calibrated to the reference paper, and the Monte Carlo power engine."""

from .calibration import Calibration, load_calibration
from .cluster import dask_mapper
from .power import PowerSimulation, simulate_power, wilson
from .scenario import Scenario, load_scenario, scenario_from_dict
from .trial import simulate_trial

__all__ = [
    "Calibration",
    "PowerSimulation",
    "Scenario",
    "dask_mapper",
    "load_calibration",
    "load_scenario",
    "scenario_from_dict",
    "simulate_power",
    "simulate_trial",
    "wilson",
]

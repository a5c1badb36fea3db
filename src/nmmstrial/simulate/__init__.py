"""Synthetic trials calibrated to the reference paper."""

from .calibration import Calibration, load_calibration
from .trial import simulate_trial

__all__ = ["Calibration", "load_calibration", "simulate_trial"]

"""The synthetic trial's parameters: reported ones from the paper, the rest chosen.

`Calibration` joins `paper_targets.yaml` (what the paper reports), `calibration.yaml`
(what it does not, with the reason for each value) and `calibrated_inputs.yaml`: the
latent means and SDs that, after screening (the MRC eligibility rule), grade rounding
and clipping, give the paper's Table 1. `calibrate()` recomputes those inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from ..protocol import paper_targets


@dataclass(frozen=True)
class Calibration:
    targets: dict[str, Any]
    chosen: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)

    def target(self, key: str, arm: str | None = None) -> tuple[float, float]:
        """(mean, sd) at T0 in the paper's Table 1, per arm where it is per arm."""
        entry = self.targets["baseline_T0"][key]
        if arm is not None:
            entry = entry[arm]
        return float(entry["mean"]), float(entry["sd"])

    def baseline(self, key: str, arm: str | None = None) -> tuple[float, float]:
        """(mean, sd) to draw from: the calibrated input, else the paper's target."""
        name = f"{key}.{arm}" if arm else key
        if name in self.inputs:
            return float(self.inputs[name]["mean"]), float(self.inputs[name]["sd"])
        return self.target(key, arm)


def _read(name: str) -> dict[str, Any]:
    return yaml.safe_load(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


def load_calibration() -> Calibration:
    inputs = _read("calibrated_inputs.yaml") or {}
    return Calibration(targets=paper_targets(), chosen=_read("calibration.yaml"), inputs=inputs)

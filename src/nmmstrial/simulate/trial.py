"""A synthetic clinical study shaped like the reference trial, calibrated to the paper.

The model, per patient: baseline characteristics drawn from Table 1; a latent
baseline per arm for MRC strength, handgrip and the two CMAPs, correlated within an
arm and between the two arms of a patient; changes from T0 by arm and visit; grades
rounded onto the protocol's MRC scale; handgrip as three noisy trials and their mean.
Parameters the paper reports come from `paper_targets.yaml`; the others, each with
its reason, from `calibration.yaml`. Same `rng` state, same study.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .. import __version__
from ..design.randomization import RandomizationList, randomization_list
from ..errors import InvalidValueError
from ..protocol import Protocol
from ..study import Study
from .calibration import Calibration, load_calibration
from .ephys import simulate_ephys
from .fibres import simulate_fibres
from .qpcr import simulate_qpcr

ARMS = ("real", "sham")
FAMILIES = ("mrc", "dynamometer", "cmap_apb", "cmap_fcr")
AFTER_BASELINE = ("T1", "T2", "T3")
DAYS_PER_MONTH = 365.25 / 12


def simulate_trial(
    protocol: Protocol,
    n_patients: int = 22,
    rng: np.random.Generator | None = None,
    *,
    seed: int | None = None,
    calibration: Calibration | None = None,
) -> Study:
    """Simulate a complete study of `n_patients` randomized patients.

    Give `rng`, or `seed` (recorded in the study's meta so a reader knows where the
    data came from). Every patient is screened against the protocol's MRC eligibility
    rule at T0 and redrawn until eligible; the number screened is recorded.
    """
    if n_patients < 2:
        raise InvalidValueError(f"n_patients: {n_patients} is too few; at least 2 are needed")
    if rng is None:
        rng = np.random.default_rng(seed)
    cal = calibration or load_calibration()
    sim = _Simulator(protocol, cal, rng)
    return sim.run(n_patients, seed=seed)


class _Simulator:
    def __init__(self, protocol: Protocol, cal: Calibration, rng: np.random.Generator):
        self.protocol = protocol
        self.cal = cal
        self.rng = rng
        self.c = cal.chosen
        grades = sorted(protocol.mrc_grades.values())
        self.grades = np.array(grades)
        self.grade_step = float(np.min(np.diff(self.grades)))
        self.muscles = [m.name for m in protocol.mrc_muscles]
        self.times = [v.code for v in protocol.visits]

    # -- the whole study ------------------------------------------------------------
    def run(self, n: int, *, seed: int | None) -> Study:
        ids = [f"P{i:0{max(2, len(str(n)))}d}" for i in range(1, n + 1)]
        enrolled = self._enrolment_dates(n)
        rlist = self._allocation(n)
        entries = list(rlist.entries.itertuples(index=False))
        real_sides = [entry.real_side for entry in entries]
        flow = self._biopsy_flow(ids)
        patients, allocation, visits, observations = [], [], [], []
        sessions, events, screened = [], [], 0
        for i, patient in enumerate(ids):
            bv_date = enrolled[i]
            t0_date = _next_monday(
                bv_date + dt.timedelta(days=self.c["enrolment"]["bv_to_t0_days"])
            )
            clinical, attempts = self._eligible_clinical(real_sides[i])
            screened += attempts
            course = self._patient_course()
            patients.append(
                {
                    "patient": patient,
                    "sequence": i + 1,
                    "enrolled_on": bv_date.isoformat(),
                    **course["baseline"],
                    "onset_side": "right"
                    if self.rng.random() < self.c["enrolment"]["p_onset_right"]
                    else "left",
                    "status": "completed",
                    "biopsy": "refused" if patient in flow["refused"] else "done",
                }
            )
            allocation.append(
                {
                    "patient": patient,
                    "sequence": entries[i].seq,
                    "stratum": None,  # no strata
                    "block": entries[i].block,
                    "block_size": entries[i].block_size,
                    "real_side": entries[i].real_side,
                }
            )
            days = self._visit_days((t0_date - bv_date).days)
            visits += [
                {
                    "patient": patient,
                    "time": t,
                    "day": d,
                    "date": (t0_date + dt.timedelta(days=d)).isoformat(),
                    "status": "done",
                }
                for t, d in days.items()
            ]
            observations += self._observation_rows(patient, clinical, course, days)
            sessions += self._session_rows(patient, t0_date, entries[i].real_side)
            events += self._adverse_events(
                patient, days, t0_date, biopsied=patient not in flow["refused"]
            )
        patients_frame = pd.DataFrame(patients)
        patients_frame["sex"] = self._sexes(n)
        allocation_frame = pd.DataFrame(allocation).assign(real_code=rlist.real_code)
        meta: dict[str, Any] = {
            "name": self.protocol.name,
            "simulated": True,
            "seed": seed,
            "n_patients": n,
            "screened": screened,
            "blinded": False,
            "generator": f"nmmstrial {__version__}",
            "calibration": "nmmstrial/simulate/calibration.yaml + protocol/paper_targets.yaml",
        }
        biopsies = self._biopsies(ids, flow)
        # Drawn last, so a seed gives the same clinical data with or without qPCR.
        qpcr = simulate_qpcr(
            biopsies, allocation_frame, self.cal.targets["qpcr"], self.c["qpcr"], self.rng
        )
        # From a child stream of ours (spawning does not advance it): a seed keeps its
        # clinical and qPCR data with or without oocytes, and qPCR settings leave them be.
        oocytes = simulate_ephys(
            biopsies,
            allocation_frame,
            self.cal.targets["electrophysiology"],
            self.c["ephys"],
            self.rng.spawn(1)[0],
        )
        # A second child stream (each spawn gives the next independent child): every
        # table above stays the same with or without fibres.
        fibres = simulate_fibres(
            biopsies,
            allocation_frame,
            self.cal.targets["histology"],
            self.c["morphometry"],
            self.rng.spawn(1)[0],
        )
        return Study(
            protocol=self.protocol,
            meta=meta,
            randomization=rlist.sealed(),
            tables={
                "patients": patients_frame,
                "allocation": allocation_frame,
                "visits": pd.DataFrame(visits),
                "observations": pd.DataFrame(observations),
                "sessions": pd.DataFrame(sessions),
                "adverse_events": _frame(events, "adverse_events"),
                "biopsies": biopsies,
                "qpcr": qpcr,
                "oocytes": oocytes,
                "fibres": fibres,
            },
        )

    # -- enrolment and allocation ---------------------------------------------------
    def _enrolment_dates(self, n: int) -> list[dt.date]:
        first = dt.date.fromisoformat(str(self.c["enrolment"]["first_date"]))
        last = dt.date.fromisoformat(str(self.c["enrolment"]["last_date"]))
        offsets = np.sort(self.rng.integers(0, (last - first).days + 1, size=n))
        return [first + dt.timedelta(days=int(d)) for d in offsets]

    def _allocation(self, n: int) -> RandomizationList:
        """A real randomization list (1:1, permuted blocks), its seed drawn from ours."""
        blocks = tuple(self.c["enrolment"]["block_sizes"])
        return randomization_list(n, blocks=blocks, seed=int(self.rng.integers(2**62)))

    def _sexes(self, n: int) -> list[str]:
        design = self.cal.targets["design"]["sex"]
        p_male = design["male"] / (design["male"] + design["female"])
        return ["male" if u < p_male else "female" for u in self.rng.random(n)]

    def _biopsy_flow(self, ids: list[str]) -> dict[str, set[str]]:
        """Who refused the biopsy, and whose samples went to which assay (nested)."""
        flow = self.cal.targets["design"]["biopsy_flow"]
        total = self.cal.targets["design"]["patients_randomized"]
        n = len(ids)
        n_refused = round(n * flow["refused_biopsy"] / total)
        n_molecular = round(n * flow["molecular_and_histology_patients"] / total)
        n_morph = round(n * flow["morphometry_patients"] / total)
        order = [ids[i] for i in self.rng.permutation(n)]
        refused = set(order[:n_refused])
        biopsied = order[n_refused:]
        return {
            "refused": refused,
            "molecular": set(biopsied[:n_molecular]),
            "morphometry": set(biopsied[:n_morph]),
        }

    def _biopsies(self, ids: list[str], flow: dict[str, set[str]]) -> pd.DataFrame:
        biopsied = [p for p in ids if p not in flow["refused"]]
        numbers = self.rng.permutation(2 * len(biopsied)) + 1  # sample ids blind to side
        rows = []
        for k, (patient, side) in enumerate((p, s) for p in biopsied for s in ("left", "right")):
            rows.append(
                {
                    "patient": patient,
                    "side": side,
                    "time": self.protocol.biopsy_visit or "T2",
                    "sample": f"B{numbers[k]:03d}",
                    "ephys": True,
                    "qpcr": patient in flow["molecular"],
                    "histology": patient in flow["molecular"],
                    "morphometry": patient in flow["morphometry"],
                }
            )
        return _frame(rows, "biopsies")

    # -- clinical latent model ------------------------------------------------------
    def _eligible_clinical(self, real_side: str) -> tuple[dict[str, Any], int]:
        rule = self.protocol.eligibility.mrc
        attempts = 0
        while True:
            attempts += 1
            clinical = self._clinical(real_side)
            if rule is None or _eligible(clinical["mrc"], rule):
                return clinical, attempts

    def _clinical(self, real_side: str) -> dict[str, Any]:
        """Per side: MRC grades per muscle and visit, handgrip trials, CMAPs."""
        corr = self.c["correlation"]
        r_sides = corr["between_sides"]
        cov = np.kron([[1.0, r_sides], [r_sides, 1.0]], np.array(corr["within_side"]))
        z = self.rng.multivariate_normal(np.zeros(len(cov)), cov, method="cholesky")
        z = z.reshape(2, len(FAMILIES))  # rows: real, sham
        arm_of = {real_side: "real", _other(real_side): "sham"}
        dyn_change = self._dynamometer_changes()
        out: dict[str, Any] = {"mrc": {}, "dynamometer": {}, "cmap": {}}
        for side, arm in arm_of.items():
            k = ARMS.index(arm)
            latent = dict(zip(FAMILIES, z[k], strict=True))
            out["mrc"][side] = self._mrc(arm, latent["mrc"])
            out["dynamometer"][side] = self._dynamometer(arm, latent["dynamometer"], dyn_change[k])
            out["cmap"][side] = {
                "cmap_apb_mv": self._cmap("cmap_apb_mv", arm, latent["cmap_apb"]),
                "cmap_fcr_mv": self._cmap("cmap_fcr_mv", arm, latent["cmap_fcr"]),
            }
        return out

    def _mrc(self, arm: str, common: float) -> dict[str, dict[str, float]]:
        """Grades per visit and muscle: latent = mean + loading x common + own + noise."""
        m = self.c["mrc"]
        fcr_mean, fcr_sd = self.cal.baseline("mrc_fcr", arm)
        sum_mean, sum_sd = self.cal.baseline("mrc_upper_limb_sum", arm)
        own, noise = m["muscle_specific_sd"], m["visit_sd"]
        rounding = self.grade_step**2 / 12
        unique = own**2 + noise**2 + rounding
        load_fcr = np.sqrt(max(fcr_sd**2 - unique, 0.0))
        n_other = len(self.muscles) - 1
        load_other = (
            np.sqrt(max(sum_sd**2 - len(self.muscles) * unique, 0.0)) - load_fcr
        ) / n_other
        offsets = {k: v for k, v in m["offsets"].items() if k in self.muscles}
        shift = np.mean(list(offsets.values())) if offsets else 0.0
        other_mean = (sum_mean - fcr_mean) / n_other
        grades: dict[str, dict[str, float]] = {}
        for muscle in self.muscles:
            if muscle == "mrc_fcr":
                mean, load = fcr_mean, load_fcr
            else:
                mean, load = other_mean + offsets.get(muscle, 0.0) - shift, load_other
            base = mean + load * common + own * self.rng.standard_normal()
            for t in ("T0", *AFTER_BASELINE):
                if muscle in m["stimulated_muscles"]:
                    change = m["change"][arm].get(t, 0.0)
                else:
                    change = m["progression_other_muscles"].get(t, 0.0)
                latent = base + change + noise * self.rng.standard_normal()
                grades.setdefault(t, {})[muscle] = self._snap(latent)
        return grades

    def _snap(self, latent: float) -> float:
        return float(self.grades[np.argmin(np.abs(self.grades - latent))])

    def _dynamometer_changes(self) -> np.ndarray:
        """Change from T0 at T1-T3 for both arms: shape (2 arms, 3 visits)."""
        d = self.c["dynamometer"]
        sd = np.array([d["change_sd"][t] for t in AFTER_BASELINE])
        visits = d["change_corr_visits"] * np.ones((3, 3)) + (1 - d["change_corr_visits"]) * np.eye(
            3
        )
        sides = np.array([[1.0, d["change_corr_sides"]], [d["change_corr_sides"], 1.0]])
        cov = np.kron(sides, visits * np.outer(sd, sd))
        draw = self.rng.multivariate_normal(np.zeros(6), cov, method="cholesky").reshape(2, 3)
        means = np.array([[d["change"][arm][t] for t in AFTER_BASELINE] for arm in ARMS])
        return means + draw

    def _dynamometer(self, arm: str, z: float, change: np.ndarray) -> dict[str, list[float]]:
        mean, sd = self.cal.baseline("dynamometer_kg", arm)
        trial_sd = self.c["dynamometer"]["trial_sd"]
        true0 = mean + np.sqrt(sd**2 - trial_sd**2 / 3) * z
        strengths = dict(zip(("T0", *AFTER_BASELINE), [true0, *(true0 + change)], strict=True))
        trials = {}
        for t, strength in strengths.items():
            raw = strength + trial_sd * self.rng.standard_normal(3)
            trials[t] = [round(float(v), 1) for v in np.clip(raw, 0.0, None)]
        return trials

    def _cmap(self, key: str, arm: str, z: float) -> dict[str, float]:
        """Gamma-distributed amplitude (positive, right-skewed, near-absent responses
        possible) with the reported mean and SD, tied to the latent `z` by its quantile."""
        mean, sd = self.cal.baseline(key, arm)
        shape, scale = (mean / sd) ** 2, sd**2 / mean
        t0 = stats.gamma.ppf(stats.norm.cdf(z), shape, scale=scale)
        retest = np.log1p(self.c["cmap"]["retest_cv"] ** 2)
        t2 = t0 * np.exp(np.sqrt(retest) * self.rng.standard_normal() - retest / 2)
        top = self.protocol.measure(key).max
        return {"T0": round(float(min(t0, top)), 2), "T2": round(float(min(t2, top)), 2)}

    # -- per-patient characteristics and course -------------------------------------
    def _patient_course(self) -> dict[str, Any]:
        low, high = self.c["enrolment"]["age_bounds"]
        mean, sd = self.cal.baseline("age_years")
        age = self.rng.normal(mean, sd)
        while not low <= age <= high:
            age = self.rng.normal(mean, sd)
        mean, sd = self.cal.baseline("disease_duration_months")
        sigma2 = np.log1p((sd / mean) ** 2)
        duration = np.exp(np.log(mean) - sigma2 / 2 + np.sqrt(sigma2) * self.rng.standard_normal())
        mean, sd = self.cal.baseline("alsfrs_r_total")
        alsfrs = int(np.clip(round(self.rng.normal(mean, sd)), 0, 48))
        mean, sd = self.cal.baseline("fvc_pct")
        fvc = float(np.clip(round(self.rng.normal(mean, sd), 1), 20.0, 150.0))
        course = self.c["patient_course"]
        return {
            "baseline": {
                "age": round(age),
                "disease_duration_months": round(float(duration), 1),
                "alsfrs_r": alsfrs,
                "fvc_pct": fvc,
            },
            "alsfrs_slope": self._normal(course["alsfrs_r_slope_per_month"]),
            "fvc_slope": self._normal(course["fvc_slope_per_month"]),
        }

    def _normal(self, spec: dict[str, float]) -> float:
        return float(self.rng.normal(spec["mean"], spec["sd"]))

    def _alsfrs_items(self, totals: list[int]) -> list[list[int]]:
        """Item scores (0-4) at successive visits whose sums are the non-increasing totals."""
        weights = np.array(self.c["patient_course"]["alsfrs_r_item_weights"], dtype=float)
        items = np.full(12, 4)
        out = []
        for total in totals:
            while items.sum() > total:
                w = np.where(items > 0, weights, 0.0)
                items[self.rng.choice(12, p=w / w.sum())] -= 1
            out.append(items.tolist())
        return out

    # -- schedule, rows -------------------------------------------------------------
    def _visit_days(self, bv_offset: int) -> dict[str, int]:
        jitter = {
            "T3": self.c["enrolment"]["t3_jitter_days"],
            "FU3M": self.c["enrolment"]["fu3m_jitter_days"],
        }
        days = {}
        for visit in self.protocol.visits:
            if visit.code == "BV":
                days["BV"] = -bv_offset
                continue
            j = jitter.get(visit.code, 0)
            days[visit.code] = visit.day + (int(self.rng.integers(-j, j + 1)) if j else 0)
        return days

    def _observation_rows(
        self, patient: str, clinical: dict[str, Any], course: dict[str, Any], days: dict[str, int]
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        per_patient = self._per_patient_values(course, days)
        for visit in self.protocol.visits:
            t = visit.code
            for side in ("left", "right"):
                values = self._side_values(clinical, side, t)
                for measure in self.protocol.measures:
                    if measure.per == "side" and t in measure.visits and measure.name in values:
                        rows.append(_obs(patient, side, t, measure.name, values[measure.name]))
            for measure in self.protocol.measures:
                if measure.per == "patient" and measure.name in per_patient.get(t, {}):
                    rows.append(_obs(patient, None, t, measure.name, per_patient[t][measure.name]))
        return rows

    def _side_values(self, clinical: dict[str, Any], side: str, t: str) -> dict[str, float]:
        values: dict[str, float] = {}
        grades = clinical["mrc"][side].get(t)
        if grades:
            values.update(grades)
            values["mrc_sum"] = round(sum(grades.values()), 6)
        trials = clinical["dynamometer"][side].get(t)
        if trials:
            for k, v in enumerate(trials, start=1):
                values[f"dynamometer_kg_trial{k}"] = v
            values["dynamometer_kg"] = round(float(np.mean(trials)), 2)
        for key, by_time in clinical["cmap"][side].items():
            if t in by_time:
                values[key] = by_time[t]
        return values

    def _per_patient_values(self, course: dict[str, Any], days: dict[str, int]) -> dict[str, dict]:
        base = course["baseline"]
        times = [t for t in ("T0", "T3", "FU3M") if t in days]
        totals, fvcs, last = [], [], base["alsfrs_r"]
        for t in times:
            months = max(days[t], 0) / DAYS_PER_MONTH
            total = int(np.clip(round(base["alsfrs_r"] + course["alsfrs_slope"] * months), 0, last))
            totals.append(last := total)
            fvc = base["fvc_pct"] + course["fvc_slope"] * months
            if t != "T0":
                fvc += 3.0 * self.rng.standard_normal()
            fvcs.append(float(np.clip(round(fvc, 1), 0.0, 150.0)))
        out: dict[str, dict] = {}
        for t, items, total, fvc in zip(
            times, self._alsfrs_items(totals), totals, fvcs, strict=True
        ):
            out[t] = {f"alsfrs_r_q{k:02d}": float(v) for k, v in enumerate(items, start=1)}
            out[t]["alsfrs_r"] = float(total)
            out[t]["fvc_pct"] = fvc
        return out

    def _session_rows(self, patient: str, t0_date: dt.date, real_side: str) -> list[dict[str, Any]]:
        """Every session delivered in full, by the physician who runs the stimulator."""
        stim = self.protocol.stimulation
        coils = {side: "real" if side == real_side else "sham" for side in ("left", "right")}
        rows, number = [], 0
        for week in range(stim.weeks):
            for k in range(stim.sessions_per_week):
                number += 1
                day = 7 * week + k
                rows.append(
                    {
                        "patient": patient,
                        "session": number,
                        "day": day,
                        "date": (t0_date + dt.timedelta(days=day)).isoformat(),
                        "trains": stim.trains,
                        "pulses": stim.pulses_per_session,
                        "duration_s": round(stim.session_duration_s),
                        "intensity_pct_mso": stim.intensity_pct_mso,
                        "completed": True,
                        "operator": self.c["sessions"]["operator"],
                        "coil_left": coils["left"],
                        "coil_right": coils["right"],
                        "interruptions": 0,
                        "interruption_cause": None,
                    }
                )
        return rows

    def _adverse_events(
        self, patient: str, days: dict[str, int], t0_date: dt.date, *, biopsied: bool
    ) -> list[dict]:
        a = self.c["adverse_events"]
        events = []
        biopsy_visit = self.protocol.biopsy_visit
        if biopsied and biopsy_visit and self.rng.random() < a["p_biopsy_site_reaction"]:
            events.append(
                {
                    "onset_day": days[biopsy_visit],
                    "term": str(
                        self.rng.choice(["pain at biopsy site", "haematoma at biopsy site"])
                    ),
                    "side": str(self.rng.choice(["left", "right"])),
                    "severity": "mild",
                    "serious": False,
                    "related_to": "biopsy",
                    "relatedness": "definite",
                    "outcome": "resolved",
                    "end_day": days[biopsy_visit] + a["days_to_resolve"]["biopsy"],
                    "action": "none",
                }
            )
        if self.rng.random() < a["p_intercurrent"]:
            onset = int(self.rng.integers(0, days["T3"] + 1))
            events.append(
                {
                    "onset_day": onset,
                    "term": str(self.rng.choice(a["intercurrent_terms"])),
                    "side": None,
                    "severity": "mild" if self.rng.random() < 0.8 else "moderate",
                    "serious": False,
                    "related_to": "none",
                    "relatedness": "unrelated",
                    "outcome": "resolved",
                    "end_day": onset + a["days_to_resolve"]["intercurrent"],
                    "action": "none",
                }
            )
        ordered = sorted(days.items(), key=lambda kv: kv[1])
        for number, event in enumerate(sorted(events, key=lambda e: e["onset_day"]), start=1):
            reported = next((t for t, d in ordered if d > event["onset_day"]), ordered[-1][0])
            event.update(
                patient=patient,
                event=number,
                time=reported,
                onset_date=(t0_date + dt.timedelta(days=event["onset_day"])).isoformat(),
                end_date=(t0_date + dt.timedelta(days=event["end_day"])).isoformat(),
            )
        return events


def _eligible(mrc: dict[str, dict[str, dict[str, float]]], rule) -> bool:
    """The protocol's MRC rule at T0: grade in range at any listed muscle, on both sides."""

    def ok(side: str) -> bool:
        grades = mrc[side]["T0"]
        return any(rule.min <= grades[m] <= rule.max for m in rule.muscles if m in grades)

    sides = [ok("left"), ok("right")]
    return all(sides) if rule.sides == "both" else any(sides)


def _obs(patient: str, side: str | None, time: str, measure: str, value: float) -> dict[str, Any]:
    return {"patient": patient, "side": side, "time": time, "measure": measure, "value": value}


def _frame(rows: list[dict[str, Any]], table: str) -> pd.DataFrame:
    from ..study import TABLES

    return pd.DataFrame(rows, columns=list(TABLES[table]))


def _other(side: str) -> str:
    return "left" if side == "right" else "right"


def _next_monday(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=(7 - day.weekday()) % 7)

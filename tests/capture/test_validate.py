import pytest

from nmmstrial.capture.validate import validate_observations
from nmmstrial.errors import InvalidValueError


def _with(study, row, **changes):
    obs = study.observations.copy()
    for column, value in changes.items():
        obs.loc[row, column] = value
    return obs


def _row(study, measure, time="T0", side="left"):
    obs = study.observations
    hits = obs.index[(obs.measure == measure) & (obs.time == time) & (obs.side == side)]
    return int(hits[0])


@pytest.mark.parametrize(
    ("measure", "changes", "message"),
    [
        ("mrc_fcr", {"value": 6.0}, r"field mrc_fcr: 6 is outside 0-5 grade"),
        ("mrc_fcr", {"value": 3.5}, r"3.5 is not a grade of the integer MRC scale \(0, 1, 2"),
        ("mrc_fcr", {"time": "T4"}, r"field time: unknown visit 'T4'; visits: BV, T0"),
        (
            "mrc_fcr",
            {"measure": "mrc_fcx"},
            r"unknown measure 'mrc_fcx' \(did you mean mrc_fcr\?\)",
        ),
        (
            "cmap_apb_mv",
            {"time": "T1"},
            r"field cmap_apb_mv: not collected at T1; collected at T0, T2",
        ),
        ("dynamometer_kg", {"side": None}, r"needs a side \(left or right\)"),
    ],
)
def test_bad_rows_name_patient_visit_and_field(small_study, protocol, measure, changes, message):
    row = _row(small_study, measure)
    obs = _with(small_study, row, **changes)
    with pytest.raises(InvalidValueError, match=message) as error:
        validate_observations(obs, protocol)
    assert f"row {row + 1} (" in str(error.value)


def test_per_patient_measure_refuses_a_side(small_study, protocol):
    obs = small_study.observations
    row = int(obs.index[(obs.measure == "fvc_pct") & obs.side.isna()][0])
    with pytest.raises(InvalidValueError, match="once per patient, without a side"):
        validate_observations(_with(small_study, row, side="left"), protocol)


def test_duplicate_row_is_refused(small_study, protocol):
    obs = small_study.observations
    doubled = obs.iloc[[0, 0]].reset_index(drop=True)
    with pytest.raises(InvalidValueError, match="recorded twice"):
        validate_observations(doubled, protocol)

import pandas as pd
import pytest

from nmmstrial.analysis.data import complete_subjects, levels, numeric
from nmmstrial.errors import InvalidValueError


def _long():
    return pd.DataFrame(
        {
            "id": ["a", "a", "b", "b", "c"],
            "time": ["T0", "T1", "T0", "T1", "T0"],
            "y": [1.0, 2.0, 3.0, 5.0, 4.0],
        }
    )


def test_incomplete_subject_is_named_with_its_cell():
    with pytest.raises(InvalidValueError, match=r"subject c has no y for time=T1; .*--listwise"):
        complete_subjects(_long(), "y", "id", ["time"])


def test_listwise_drops_and_names():
    kept, excluded = complete_subjects(_long(), "y", "id", ["time"], listwise=True)
    assert excluded == ["c"]
    assert sorted(kept["id"].unique()) == ["a", "b"]


def test_repeated_cell_is_refused():
    data = pd.concat([_long(), _long().iloc[[0]]])
    with pytest.raises(InvalidValueError, match="more than one y for id=a, time=T0"):
        complete_subjects(data, "y", "id", ["time"])


def test_non_numeric_constant_and_too_few():
    data = _long().assign(y=["1", "2", "x", "4", "5"])
    with pytest.raises(InvalidValueError, match="row 3, column y: 'x' is not a number"):
        numeric(data, "y")
    with pytest.raises(InvalidValueError, match="every value is 3; a constant outcome"):
        numeric(_long().assign(y=3.0), "y")
    one = _long()[_long()["id"] == "a"]
    with pytest.raises(InvalidValueError, match="1 complete subject"):
        complete_subjects(one, "y", "id", ["time"])


def test_levels_sorted_or_given():
    series = pd.Series(["sham", "real", "sham"])
    assert levels(series) == ["real", "sham"]
    assert levels(series, ["sham", "real"]) == ["sham", "real"]
    with pytest.raises(InvalidValueError, match="placebo not found"):
        levels(series, ["sham", "placebo"], name="arm")
    with pytest.raises(InvalidValueError, match="also have real"):
        levels(series, ["sham"], name="arm")

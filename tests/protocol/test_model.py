import pytest
import yaml

from nmmstrial.errors import ProtocolError
from nmmstrial.protocol import (
    MRC_GRADES,
    load_protocol,
    protocol_from_dict,
    protocol_from_text,
    reference_protocol_text,
)


def test_reference_dose_matches_the_paper(protocol):
    dose = protocol.stimulation.dose()
    assert dose["train_duration_s"] == 10
    assert dose["pulses_per_session"] == 7000
    assert dose["session_duration_s"] == 3485  # 140 x 10 s + 139 x 15 s
    assert dose["sessions"] == 10
    assert dose["pulses_per_course"] == 70000


def test_reference_has_the_visits_and_measures_of_the_paper(protocol):
    assert [v.code for v in protocol.visits] == ["BV", "T0", "T1", "T2", "T3", "FU3M"]
    assert len(protocol.mrc_muscles) == 8
    mrc_sum = protocol.measure("mrc_sum")
    assert (mrc_sum.derived, mrc_sum.max, len(mrc_sum.components)) == ("sum", 40, 8)
    assert protocol.measure("dynamometer_kg").derived == "mean"
    assert protocol.measure("cmap_fcr_mv").visits == ("T0", "T2")
    assert protocol.measure("alsfrs_r").per == "patient"
    assert protocol.visit("T3").day - protocol.visit("T2").day == 30
    assert protocol.eligibility.mrc.muscles == ("mrc_fcr", "mrc_fdp")


def test_yaml_round_trip(protocol, tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(protocol.model_dump(mode="json")))
    assert load_protocol(path) == protocol


def test_modified_scale_has_minus_and_plus_grades():
    grades = MRC_GRADES["modified"]
    assert grades["4-"] == pytest.approx(3.6667, abs=1e-4)
    assert grades["4+"] == pytest.approx(4.3333, abs=1e-4)
    assert list(MRC_GRADES["integer"]) == ["0", "1", "2", "3", "4", "5"]


def _reference_dict():
    return yaml.safe_load(reference_protocol_text())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["stimulation"].update(trains="many"),
            r"stimulation\.trains: .*integer.*'many'",
        ),
        (lambda d: d.update(mrc_scale="half"), r"mrc_scale: .*'integer' or 'modified'.*'half'"),
        (lambda d: d["measures"][0].update(visits=["T0", "T9"]), r"visit 'T9' is not defined"),
        (lambda d: d["visits"][0].update(colour="red"), r"visits\.0\.colour: Extra inputs"),
        (lambda d: d["measures"][9].update(min=50, max=1), r"min 50.0 is above max 1.0"),
        (lambda d: d.pop("stimulation"), r"stimulation: Field required"),
    ],
)
def test_malformed_definition_names_the_field(change, message):
    data = _reference_dict()
    change(data)
    with pytest.raises(ProtocolError, match=message):
        protocol_from_dict(data, source="study.yaml")


def test_not_yaml_and_not_a_mapping():
    with pytest.raises(ProtocolError, match="not valid YAML"):
        protocol_from_text("visits: [T0", source="x.yaml")
    with pytest.raises(ProtocolError, match="a mapping of fields, got list"):
        protocol_from_text("- 1\n- 2\n", source="x.yaml")


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(ProtocolError, match="cannot read the study definition"):
        load_protocol(tmp_path / "absent.yaml")

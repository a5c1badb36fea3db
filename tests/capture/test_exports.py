"""export_study: tidy files, a complete dictionary, the same bytes every time."""

from __future__ import annotations

import re
import sys

import numpy as np
import pandas as pd
import pytest

from nmmstrial.capture import export_study
from nmmstrial.errors import InvalidValueError, NmmstrialError
from nmmstrial.protocol import reference_protocol
from nmmstrial.simulate import simulate_trial
from nmmstrial.study import TABLES, Study, arm_codes, conform, with_arm

TABLE_FILES = [f"{table}.csv" for table in TABLES]


@pytest.fixture(scope="module")
def study() -> Study:
    # Seed fixed so the exported bytes are reproducible across runs.
    return simulate_trial(reference_protocol(), n_patients=6, seed=7)


@pytest.fixture
def thirds() -> Study:
    """Values a short float format would corrupt, and a per-patient measure without a side."""
    observations = pd.DataFrame(
        {
            "patient": ["P01", "P01", "P01"],
            "side": ["left", "right", None],
            "time": ["T0", "T0", "T0"],
            "measure": ["mrc_fcr", "mrc_fcr", "fvc_pct"],
            "value": [11 / 3, 0.1 + 0.2, np.nan],
        }
    )
    return Study(
        protocol=reference_protocol(),
        meta={"simulated": False},
        tables={"observations": observations},
    )


def test_writes_one_file_per_table_then_dictionary_and_readme(tmp_path, study):
    paths = export_study(study, tmp_path / "out", blinded=False)
    assert [p.name for p in paths] == [*TABLE_FILES, "dictionary.csv", "README.md"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)


def test_same_study_gives_the_same_bytes(tmp_path, study):
    first = export_study(study, tmp_path / "a")
    second = export_study(study, tmp_path / "b")
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes(), one.name


def test_tables_read_back_exactly(tmp_path, study):
    export_study(study, tmp_path, blinded=False)
    for table, spec in TABLES.items():
        got = pd.read_csv(tmp_path / f"{table}.csv", dtype={c: d for c, (d, _) in spec.items()})
        pd.testing.assert_frame_equal(conform(got, table), study.tables[table], check_exact=True)


def test_floats_keep_full_precision_and_missing_side_is_empty(tmp_path, thirds):
    export_study(thirds, tmp_path)
    lines = (tmp_path / "observations.csv").read_text().splitlines()
    assert lines == [  # no allocation in this fixture: the arm is empty
        "patient,side,time,measure,value,arm",
        f"P01,left,T0,mrc_fcr,{11 / 3!r},",
        f"P01,right,T0,mrc_fcr,{0.1 + 0.2!r},",
        "P01,,T0,fvc_pct,,",
    ]
    assert pd.read_csv(tmp_path / "observations.csv")["value"].iloc[0] == 11 / 3


def test_dictionary_lists_every_column_and_measure(tmp_path, study):
    export_study(study, tmp_path, blinded=False)
    dictionary = pd.read_csv(tmp_path / "dictionary.csv", keep_default_na=False)
    columns = dictionary[dictionary["measure"] == ""]
    assert list(zip(columns["table"], columns["column"], strict=True)) == [
        *((table, column) for table, spec in TABLES.items() for column in spec),
        ("observations", "arm"),
    ]
    assert columns["dtype"].tolist() == [
        *(d for spec in TABLES.values() for d, _ in spec.values()),
        "string",
    ]
    assert (columns["description"] != "").all()
    measures = dictionary[dictionary["measure"] != ""].set_index("measure")
    assert measures.index.tolist() == [m.name for m in study.protocol.measures]
    mrc = measures.loc["mrc_fcr"]
    assert (mrc["table"], mrc["column"], mrc["unit"], mrc["per"]) == (
        "observations",
        "value",
        "grade",
        "side",
    )
    assert (float(mrc["min"]), float(mrc["max"]), mrc["visits"]) == (0.0, 5.0, "BV T0 T1 T2 T3")
    assert "sum of mrc_deltoid" in measures.loc["mrc_sum", "description"]


def test_readme_names_the_study_and_its_origin(tmp_path, study, thirds):
    export_study(study, tmp_path / "sim", blinded=False)
    readme = (tmp_path / "sim" / "README.md").read_text()
    assert readme.startswith(f"# {study.protocol.name}: data export\n")
    assert "Simulated: yes, seed 7." in readme
    for name in [*TABLE_FILES, "dictionary.csv"]:
        assert f"| {name} |" in readme
    export_study(thirds, tmp_path / "real")
    assert "Simulated: no." in (tmp_path / "real" / "README.md").read_text()


def test_parquet_round_trip_and_same_bytes(tmp_path, study):
    first = export_study(study, tmp_path / "a", fmt="parquet", blinded=False)
    second = export_study(study, tmp_path / "b", fmt="parquet", blinded=False)
    assert [p.name for p in first] == [
        *(f"{t}.parquet" for t in TABLES),
        "dictionary.parquet",
        "README.md",
    ]
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes(), one.name
    for table in TABLES:
        got = pd.read_parquet(tmp_path / "a" / f"{table}.parquet")
        pd.testing.assert_frame_equal(conform(got, table), study.tables[table], check_exact=True)


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, study, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # what `import pyarrow` sees if absent
    with pytest.raises(NmmstrialError, match=r"pip install 'nmmstrial\[parquet\]'"):
        export_study(study, tmp_path, fmt="parquet")
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_names_the_allowed_ones(tmp_path, study):
    with pytest.raises(
        InvalidValueError, match="'xlsx' is not supported; choose one of: csv, parquet"
    ):
        export_study(study, tmp_path, fmt="xlsx")
    assert list(tmp_path.iterdir()) == []


def test_blinded_export_names_no_arm_and_no_stimulated_side(tmp_path, study):
    paths = export_study(study, tmp_path)  # blinded is the default
    assert "allocation.csv" not in [p.name for p in paths]
    for path in paths:
        text = path.read_text()
        assert not re.search(r"\b(real|sham)\b", text, flags=re.IGNORECASE), path.name
        assert "real_side" not in text and "real_code" not in text
    obs = pd.read_csv(tmp_path / "observations.csv")
    codes = arm_codes(study.allocation)
    assert set(obs["arm"].dropna()) == {"X", "Y"}
    # The same code means the same arm for every patient.
    truth = with_arm(study.observations, study.allocation)["arm"].map(codes)
    assert obs["arm"].fillna("").tolist() == truth.fillna("").tolist()


def test_unblinded_export_names_the_arms(tmp_path, study):
    export_study(study, tmp_path, blinded=False)
    obs = pd.read_csv(tmp_path / "observations.csv")
    assert set(obs["arm"].dropna()) == {"real", "sham"}
    assert (tmp_path / "allocation.csv").exists()

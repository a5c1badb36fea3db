"""An electrophysiologist's ABF recordings into the study: `assay ephys measure --study`."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nmmstrial import __version__
from nmmstrial.cli import cli
from nmmstrial.simulate import load_calibration
from nmmstrial.simulate.ephys import TAGS, trace, write_abf1
from nmmstrial.store import read_study

ENV = {"NMMSTRIAL_PASSWORD": "demo"}
DATA = Path(__file__).parents[1] / "assays" / "data" / "ephys"
EXPECTED = json.loads((DATA / "expected.json").read_text())
AXON7 = DATA / "File_axon_7.abf"  # 12 sweeps of 2-s applications: peak recordings
CHOSEN = load_calibration().chosen["ephys"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV)


def measure(*args):
    return run("assay", "ephys", "measure", *args)


def samples(study):
    """Two biopsy samples of the study whose oocytes are numbered below 90."""
    biopsies = read_study(study).biopsies
    return list(biopsies.loc[biopsies["ephys"].astype(bool), "sample"][:2])


def stored(study, sample, oocyte):
    oocytes = read_study(study).oocytes
    row = oocytes.loc[(oocytes["sample"] == sample) & (oocytes["oocyte"] == oocyte)]
    assert len(row) == 1
    return row.iloc[0]


def write_desensitization(path, t05_s, censored, seed):
    """A 30-s application as the demo records it (tags at ACh on / off), known T0.5."""
    current, window = trace(2.5, t05_s, censored, CHOSEN, np.random.default_rng(seed))
    write_abf1(
        current,
        path,
        CHOSEN["trace"]["sample_rate_hz"],
        holding_mV=CHOSEN["trace"]["holding_mV"],
        tags=tuple(zip(window, TAGS, strict=True)),
    )


def test_real_recordings_are_stored_and_a_bad_file_does_not_stop_the_others(study, tmp_path):
    first, second = samples(study)
    folder = tmp_path / "rig"
    folder.mkdir()
    shutil.copy(AXON7, folder / f"{first}_oocyte91.abf")
    shutil.copy(AXON7, folder / f"{second}_oocyte92.abf")
    (folder / f"{second}_oocyte93.abf").write_text("not a recording")
    result = measure(
        folder, "--study", study, "--user", "electrophysiologist", "--window", "0.5:2.5", "--json"
    )
    assert result.exit_code == 1
    assert f"{second}_oocyte93.abf: not an Axon ABF file" in result.stderr
    out = json.loads(result.stdout)
    assert [Path(f["file"]).name for f in out["files"]] == [
        f"{first}_oocyte91.abf",
        f"{second}_oocyte92.abf",
    ]
    assert out["stored"]["inserted"] == 2
    row = stored(study, first, 91)
    # sweep 0 does not respond: the first responding sweep is stored (expected.json)
    want = -EXPECTED["File_axon_7.abf"]["peaks"]["1"]["peak_pA"] / 1000
    assert row["peak_na"] == pytest.approx(
        want, rel=EXPECTED["File_axon_7.abf"]["peak_tolerance_rel"]
    )
    assert np.isnan(row["t05_s"])
    assert row["sha256"] == hashlib.sha256(AXON7.read_bytes()).hexdigest()
    assert row["file"] == f"{first}_oocyte91.abf"
    assert row["version"] == __version__
    params = json.loads(row["params"])["peak"]
    assert params["sweep"] == 1
    assert params["window"] == {"start_s": 0.5, "end_s": 2.5, "source": "user"}
    assert params["parameters"]["clamp_tolerance_mV"] == 5.0
    assert params["parameters"]["threshold_sd"] == 10.0
    assert (
        stored(study, second, 92)["patient"]
        == read_study(study).biopsies.set_index("sample").loc[second, "patient"]
    )
    assert run("audit", "verify", study, "--user", "monitor").exit_code == 0


def test_demo_recordings_store_t05_and_its_censoring(study, tmp_path):
    first, _ = samples(study)
    folder = tmp_path / "rig"
    folder.mkdir()
    write_desensitization(folder / f"{first}_oocyte95.abf", 4.0, False, seed=1)
    write_desensitization(folder / f"{first}_oocyte96.abf", 0.0, True, seed=2)
    result = measure(folder, "--study", study, "--user", "electrophysiologist")
    assert result.exit_code == 0, result.output
    reached = stored(study, first, 95)
    # noise 0.02 nA at 100 Hz, unsmoothed: the peak's sample wanders by ~0.1 s
    assert reached["t05_s"] == pytest.approx(4.0, abs=0.2)
    assert not reached["t05_censored"]
    assert np.isnan(reached["peak_na"])  # a 30-s application is no peak recording
    params = json.loads(reached["params"])["t05"]
    assert params["window"]["source"] == "tags"
    assert params["window"]["end_s"] - params["window"]["start_s"] == pytest.approx(30, abs=0.02)
    censored = stored(study, first, 96)
    assert bool(censored["t05_censored"])
    # censored at the end of the application, counted from the (noisy, slowly decaying) peak
    assert censored["t05_s"] == pytest.approx(30 - CHOSEN["trace"]["rise_s"], abs=0.3)
    assert censored["t05_s"] <= 30 - CHOSEN["trace"]["rise_s"]


def test_a_stored_value_changes_only_with_a_reason(study, tmp_path):
    first, _ = samples(study)
    path = tmp_path / f"{first}_oocyte97.abf"
    shutil.copy(AXON7, path)
    args = (path, "--study", study, "--user", "electrophysiologist")
    assert measure(*args, "--window", "0.5:2.5").exit_code == 0
    again = measure(*args, "--window", "0.5:2.5")
    assert again.exit_code == 0 and "0 inserted, 0 updated, 1 unchanged" in again.stderr
    before = stored(study, first, 97)
    # a later sweep chosen: another peak, refused without a reason, nothing written
    changed = measure(*args, "--window", "0.5:2.5", "--sweeps", "6")
    assert changed.exit_code == 1
    assert "needs a reason (--reason)" in changed.output and "nothing written" in changed.output
    assert stored(study, first, 97)["peak_na"] == before["peak_na"]
    # all or nothing: a new oocyte in the same run is not stored either
    fresh = tmp_path / f"{first}_oocyte89.abf"
    shutil.copy(AXON7, fresh)
    both = measure(fresh, *args, "--window", "0.5:2.5", "--sweeps", "6")
    assert both.exit_code == 1 and "nothing written" in both.output
    oocytes = read_study(study).oocytes
    assert not ((oocytes["sample"] == first) & (oocytes["oocyte"] == 89)).any()
    done = measure(
        *args, "--window", "0.5:2.5", "--sweeps", "6", "--reason", "first sweep ran down"
    )
    assert done.exit_code == 0, done.output
    assert stored(study, first, 97)["peak_na"] == pytest.approx(0.6658, rel=0.02)
    audit = json.loads(run("audit", "log", study, "--user", "monitor", "--json").output)
    reasons = {e["field"]: e["reason"] for e in audit if e["table"] == "oocytes" and e["field"]}
    assert reasons["peak_na"] == "first sweep ran down"
    assert run("audit", "verify", study, "--user", "monitor").exit_code == 0


def test_unmapped_files_are_refused_before_anything_is_stored(study, tmp_path):
    first, _ = samples(study)
    shutil.copy(AXON7, tmp_path / "File_axon_7.abf")
    shutil.copy(AXON7, tmp_path / "B999_oocyte01.abf")
    shutil.copy(AXON7, tmp_path / f"{first}_oocyte98.abf")
    n_before = len(read_study(study).oocytes)
    result = measure(
        tmp_path, "--study", study, "--user", "electrophysiologist", "--window", "0.5:2.5"
    )
    assert result.exit_code == 1
    assert "File_axon_7.abf: not in the map and not named SAMPLE_oocyteNN.abf" in result.output
    assert "sample B999 is not a biopsy sample of the study" in result.output
    assert len(read_study(study).oocytes) == n_before


def test_a_map_names_the_oocyte_of_any_file(study, tmp_path):
    first, _ = samples(study)
    rig = tmp_path / "rig"
    rig.mkdir()
    shutil.copy(AXON7, rig / "File_axon_7.abf")
    table = tmp_path / "map.csv"
    table.write_text(f"file,sample,oocyte\nFile_axon_7.abf,{first},99\n")
    result = measure(
        rig,
        "--study",
        study,
        "--user",
        "electrophysiologist",
        "--window",
        "0.5:2.5",
        "--map",
        table,
    )
    assert result.exit_code == 0, result.output
    assert stored(study, first, 99)["file"] == "File_axon_7.abf"
    table.write_text("file,sample\nFile_axon_7.abf,B001\n")
    bad = measure(rig, "--study", study, "--user", "electrophysiologist", "--map", table)
    assert bad.exit_code == 1 and "header must be file,sample,oocyte; missing oocyte" in bad.output


def test_roles_and_lock(study, tmp_path):
    first, _ = samples(study)
    path = tmp_path / f"{first}_oocyte90.abf"
    shutil.copy(AXON7, path)
    args = ("--study", study, "--window", "0.5:2.5")
    refused = measure(path, *args, "--user", "assessor")
    assert refused.exit_code == 1 and "may not import oocyte recordings" in refused.output
    alone = measure(path, "--study", study)
    assert alone.exit_code == 1 and "--study and --user go together" in alone.output
    assert run("conduct", "lock", study, "--user", "monitor", "--reason", "LPLV").exit_code == 0
    locked = measure(path, *args, "--user", "admin")
    assert locked.exit_code == 1 and "locked" in locked.output


def test_demo_files_measured_again_through_the_cli_change_nothing(tmp_path):
    """The demo stores its recordings through the same functions as the CLI: measuring
    its files again with `--study` finds every oocyte unchanged, params and version
    included; a blinded report draws them with codes only."""
    out = tmp_path / "demo"
    assert run("demo", "--out", out).exit_code == 0
    db, lab = out / "study.db", out / "lab" / "ephys"
    files = sorted(lab.glob("*.abf"))
    before = read_study(db).oocytes
    # the peak tests are named as Clampex names files; the lab's map says whose they are
    result = measure(
        lab, "--study", db, "--user", "electrophysiologist", "--map", lab / "peak_map.csv", "--json"
    )
    assert result.exit_code == 0, result.output
    stored_counts = json.loads(result.stdout)["stored"]
    assert stored_counts == {
        "study": str(db),
        "inserted": 0,
        "updated": 0,
        "unchanged": len(before),
    }
    assert read_study(db).oocytes.equals(before)
    # one peak recording per oocyte, one T0.5 recording per oocyte of the T0.5 subset
    assert len(files) == len(before) + before["t05_s"].notna().sum()
    assert before["file"].notna().all() and before["version"].eq(__version__).all()
    report = run(
        "report", db, "--out", tmp_path / "report", "--recordings", lab, "--user", "assessor"
    )
    assert report.exit_code == 0, report.output
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="ephys">') :]
    section = section[: section.index("</section>")]
    assert '<figure id="figure-ephys_examples">' in section
    assert "not shown" not in section
    assert "real" not in section and "sham" not in section

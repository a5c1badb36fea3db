"""The flow so far (the web dashboard's): patients per stage, as the full flow counts
them where the two share a stage, and the same whatever the allocation."""

from __future__ import annotations

import dataclasses

from nmmstrial.report import flow, flow_so_far


def test_shared_stages_agree_with_the_flow(study):
    full = flow(study).set_index("stage")["patients"]
    so_far = flow_so_far(study).set_index("stage")["patients"]
    for stage in ("randomized", "treated", "withdrawn", "biopsied", "biopsy_refused"):
        assert so_far[stage] == full[stage], stage
    assert so_far["enrolled"] == len(study.patients)
    assert list(flow_so_far(study).columns) == ["stage", "label", "patients"]


def test_it_does_not_depend_on_the_allocation(study):
    swap = {"left": "right", "right": "left"}
    allocation = study.allocation.assign(real_side=study.allocation["real_side"].map(swap))
    flipped = dataclasses.replace(study, tables={**study.tables, "allocation": allocation})
    assert flow_so_far(flipped).equals(flow_so_far(study))


def test_sessions_may_be_given_as_three_columns(study):
    sessions = study.sessions[["patient", "session", "completed"]]
    assert flow_so_far(study, sessions).equals(flow_so_far(study))

"""Randomization, eligibility, enrolment and the reveal: allocation concealment.

The list is created by the statistician, sealed in the study database, and read only
by the unblinded physician (and by the admin after unblinding); everyone else sees its
size, blocks, strata, balance and salted fingerprint. A patient is randomized in the
same transaction as the enrolment, and only if eligible. Every reveal and every
reading of the list is recorded in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ..design.randomization import randomization_list
from ..errors import AccessError, InvalidValueError
from ..protocol import Protocol
from ..store import Author, open_study_db, read_study
from ..store.changes import (
    allocate,
    allocation_of,
    log_event,
    read_meta,
    read_randomization,
    write_randomization,
)
from .users import User, require_role

LIST_ROLES = ("statistician", "admin")
REFUSED = "only the unblinded physician may see allocations"


def randomize(
    target: str,
    user: User,
    author: Author,
    *,
    n: int,
    blocks: tuple[int, ...],
    strata: dict[str, list[str]],
    seed: int | None,
) -> dict[str, Any]:
    """Create and seal the list; return what anyone may see (never the sequence)."""
    require_role(user, LIST_ROLES, "create the randomization list")
    rlist = randomization_list(n, blocks=blocks, strata=strata, seed=seed)
    entries = rlist.entries.rename(columns={"seq": "sequence"}).assign(
        patient=None, real_code=rlist.real_code
    )
    write_randomization(target, entries, rlist.sealed(), author)
    return {
        "n": n,
        "blocks": list(blocks),
        "strata": strata,
        "entries": len(entries),
        "balance": rlist.balance().to_dict(orient="records"),
        "sha256": rlist.sha256,
        "fingerprint": "salted SHA-256 of the list (the salt is sealed with it)",
    }


def _may_see(user: User, meta: dict) -> bool:
    return user.role == "unblinded_physician" or (user.role == "admin" and meta.get("unblinded"))


def show_list(target: str, user: User, author: Author) -> dict[str, Any]:
    """The whole sealed list, for the unblinded physician (and admin after unblinding)."""
    study = read_study(target)
    if not _may_see(user, study.meta):
        raise AccessError(f"{user.name} ({user.role}): {REFUSED}")
    engine = open_study_db(target)
    try:
        with engine.connect() as connection:
            sealed = read_randomization(connection)
    finally:
        engine.dispose()
    if sealed is None:
        raise InvalidValueError(f"{target}: the study has no randomization list yet")
    log_event(
        target,
        author.entry(
            "read",
            table="randomization",
            record="list",
        ),
    )
    allocation = study.allocation.sort_values(["stratum", "sequence"], na_position="first")
    entries = [
        {
            "stratum": row.stratum if isinstance(row.stratum, str) else "",
            "seq": int(row.sequence),
            "block": int(row.block),
            "block_size": int(row.block_size),
            "real_side": row.real_side,
            "patient": row.patient if isinstance(row.patient, str) else None,
        }
        for row in allocation.itertuples(index=False)
    ]
    return {
        "seed": int(sealed["seed"]),
        "n": sealed["n"],
        "blocks": json.loads(sealed["blocks"]),
        "strata": json.loads(sealed["strata"]),
        "sha256": sealed["sha256"],
        "entries": entries,
    }


def eligibility_template(protocol: Protocol) -> list[dict[str, Any]]:
    """The protocol's checklist: a yes/no answer per criterion, a grade per MRC muscle."""
    criteria: list[dict[str, Any]] = []
    for kind, texts in (
        ("inclusion", protocol.eligibility.inclusion),
        ("exclusion", protocol.eligibility.exclusion),
    ):
        for number, text in enumerate(texts, start=1):
            criteria.append(
                {
                    "id": f"{kind[:3]}_{number}",
                    "kind": kind,
                    "type": "bool",
                    "min": None,
                    "max": None,
                    "text": text,
                }
            )
    rule = protocol.eligibility.mrc
    if rule:
        muscles = " or ".join(rule.muscles)
        for muscle in rule.muscles:
            for side in ("left", "right"):
                criteria.append(
                    {
                        "id": f"{muscle}_{side}",
                        "kind": "inclusion",
                        "type": "number",
                        "min": rule.min,
                        "max": rule.max,
                        "text": f"{protocol.measure(muscle).label}, {side}: MRC grade "
                        f"{rule.min:g}-{rule.max:g} at {muscles}, {rule.sides} sides",
                    }
                )
    return criteria


def first_failed(protocol: Protocol, answers: dict[str, Any]) -> str | None:
    """The id of the first criterion the answers fail, or None when eligible."""
    criteria = eligibility_template(protocol)
    missing = [c["id"] for c in criteria if c["id"] not in answers]
    if missing:
        raise InvalidValueError(f"eligibility: no answer for {', '.join(missing)}")
    for c in criteria:
        if c["type"] == "bool":
            value = answers[c["id"]]
            if not isinstance(value, bool):
                raise InvalidValueError(f"eligibility, {c['id']}: answer true or false")
            if (c["kind"] == "inclusion") != value:
                return c["id"]
    rule = protocol.eligibility.mrc
    if rule:

        def side_ok(side: str) -> bool:
            return any(rule.min <= float(answers[f"{m}_{side}"]) <= rule.max for m in rule.muscles)

        sides = [side_ok("left"), side_ok("right")]
        if not (all(sides) if rule.sides == "both" else any(sides)):
            return f"{rule.muscles[0]}_{'left' if not sides[0] else 'right'}"
    return None


def enrol(
    target: str,
    user: User,
    author: Author,
    *,
    patient: str,
    answers: dict[str, Any],
    stratum: str | None,
    today: dt.date,
) -> dict[str, Any]:
    """Check eligibility, then record and randomize the patient in one transaction."""
    require_role(user, ("unblinded_physician",), "enrol and randomize patients")
    study = read_study(target)
    if study.meta.get("locked"):
        raise AccessError(f"{target}: the database is locked")
    failed = first_failed(study.protocol, answers)
    if failed is not None:
        raise InvalidValueError(f"{patient} is not eligible: criterion {failed} not met")
    record = {"patient": patient, "enrolled_on": today.isoformat(), "status": "enrolled"}
    entry = allocate(target, record, stratum, author)
    return {"patient": patient, "seq": int(entry["sequence"]), "stratum": stratum or ""}


def reveal(
    target: str, user: User, author: Author, patient: str, *, emergency: str | None = None
) -> dict[str, Any]:
    """The side to stimulate, for the unblinded physician only; every reveal is logged.

    `emergency`: why the allocation is disclosed beyond the physician (an emergency
    unblinding of one patient); recorded as the reveal's reason."""
    if emergency is not None and not emergency.strip():
        raise InvalidValueError("an emergency unblinding needs its reason", field="reason")
    engine = open_study_db(target)
    try:
        with engine.connect() as connection:
            meta = read_meta(connection)
    finally:
        engine.dispose()
    if not _may_see(user, meta):
        raise AccessError(f"{user.name} ({user.role}): {REFUSED}")
    entry = allocation_of(target, patient)
    if entry is None:
        raise InvalidValueError(f"{patient} is not randomized", field="patient")
    real = entry["real_side"]
    log_event(
        target,
        author.entry(
            "reveal",
            table="allocation",
            patient=patient,
            new=real,
            reason=f"emergency unblinding: {emergency.strip()}" if emergency else None,
        ),
    )
    return {
        "patient": patient,
        "seq": int(entry["sequence"]),
        "stratum": entry["stratum"] or "",
        "real_side": real,
        "sham_side": "left" if real == "right" else "right",
    }

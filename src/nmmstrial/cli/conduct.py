"""`nmmstrial conduct ...`: the study and its users, enrolment, visits, assessments,
stimulation sessions, adverse events, lock and unblinding."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
import pandas as pd
import yaml

from .. import __version__
from ..capture.imports import read_assessments_csv
from ..conduct import ROLES, new_user, require_role
from ..conduct.allocation import eligibility_template, enrol, reveal
from ..conduct.data import lock, record_assessments, unblind
from ..conduct.treatment import (
    ACTIONS,
    COILS,
    OUTCOMES,
    PROCEDURES,
    RELATEDNESS,
    SEVERITIES,
    adherence,
    follow_up_adverse_event,
    log_session,
    report_adverse_event,
)
from ..conduct.visits import visit_schedule
from ..errors import InvalidValueError
from ..protocol import load_protocol, reference_protocol
from ..store import Author, add_user, read_study, write_study
from ..store.engine import describe
from ..study import Study
from ..tidy import SIDES
from .auth import NEW_PASSWORD_ENV, login, read_password, user_option
from .output import emit


@click.group()
def conduct() -> None:
    """Running the trial: the study, its users and roles."""


@conduct.command("init")
@click.argument("study_db")
@user_option
@click.option(
    "--protocol",
    "protocol_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Study definition YAML (default: the reference trial).",
)
def init(study_db: str, user_name: str, protocol_path: Path | None) -> None:
    """Create an empty, blinded study; --user becomes its first admin."""
    proto = load_protocol(protocol_path) if protocol_path else reference_protocol()
    admin = new_user(user_name, "admin", read_password())
    meta = {
        "name": proto.name,
        "simulated": False,
        "seed": None,
        "blinded": True,
        "generator": f"nmmstrial {__version__}",
    }
    study = Study(protocol=proto, meta=meta, tables={})
    write_study(study, study_db, author=Author.now(user_name, "admin"), users=[admin])
    click.echo(f"{describe(study_db)}: study {proto.name} created; admin {user_name}")


@conduct.command("user-add")
@click.argument("study_db")
@user_option
@click.option("--name", required=True, help="The new user's name.")
@click.option("--role", type=click.Choice(ROLES), required=True)
def user_add(study_db: str, user_name: str, name: str, role: str) -> None:
    """Add a user (admin only); the password from NMMSTRIAL_NEW_PASSWORD or asked twice."""
    admin = login(study_db, user_name)
    require_role(admin, ("admin",), "add users")
    record = new_user(name, role, read_password(NEW_PASSWORD_ENV, confirm=True))
    add_user(study_db, record, Author.now(admin.name, admin.role))
    click.echo(f"{describe(study_db)}: user {name} added as {role}")


@conduct.command("assess")
@click.argument("study_db")
@user_option
@click.option("--patient", required=True)
@click.option("--visit", required=True, help="Visit code, e.g. T1.")
@click.option("--measure", required=True, help="Measure name, e.g. mrc_fcr.")
@click.option("--side", type=click.Choice(SIDES), help="For per-side measures.")
@click.option("--value", required=True, type=float)
@click.option("--reason", help="Why a stored value changes (required to change one).")
@click.option(
    "--date",
    "visit_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Date of the visit (default: today); recorded with the visit's first value.",
)
def assess(study_db, user_name, patient, visit, measure, side, value, reason, visit_date) -> None:
    """Enter (or correct, with a reason) one assessment."""
    user = login(study_db, user_name)
    row = {"patient": patient, "side": side, "time": visit, "measure": measure,
           "value": value, "reason": reason}  # fmt: skip
    counts = record_assessments(
        study_db,
        pd.DataFrame([row]),
        user,
        Author.now(user.name, user.role),
        source="assess",
        visit_date=visit_date.date().isoformat() if visit_date else None,
    )
    done = next(kind for kind, n in counts.items() if n)
    click.echo(f"{patient} {visit} {measure}{' ' + side if side else ''} = {value:g}: {done}")


@conduct.command("import")
@click.argument("study_db")
@click.argument("csv_file", type=click.Path(path_type=Path, dir_okay=False))
@user_option
def import_csv(study_db: str, csv_file: Path, user_name: str) -> None:
    """Import assessments from a CSV (patient,time,measure,side,value[,reason]): all rows
    or none."""
    user = login(study_db, user_name)
    rows = read_assessments_csv(csv_file)
    counts = record_assessments(
        study_db, rows, user, Author.now(user.name, user.role), source=str(csv_file)
    )
    click.echo(", ".join(f"{n} {kind}" for kind, n in counts.items()))


@conduct.command("lock")
@click.argument("study_db")
@user_option
@click.option("--reason", help="Why (e.g. last patient's last visit done).")
def lock_command(study_db: str, user_name: str, reason: str | None) -> None:
    """Lock the database (monitor or admin): entries are refused from now on."""
    user = login(study_db, user_name)
    anchor = lock(study_db, user, Author.now(user.name, user.role), reason)
    click.echo(
        f"{describe(study_db)}: locked; audit anchor {anchor['head_seq']}:{anchor['anchor']} "
        "(keep it apart: `audit verify --anchor` with it shows a later truncated or "
        "rewritten trail)"
    )


@conduct.command("unblind")
@click.argument("study_db")
@user_option
@click.option("--reason", required=True, help="Why the study is unblinded.")
def unblind_command(study_db: str, user_name: str, reason: str) -> None:
    """Unblind the study (admin, after lock): outputs name the arms from now on."""
    user = login(study_db, user_name)
    unblind(study_db, user, Author.now(user.name, user.role), reason)
    click.echo(f"{describe(study_db)}: unblinded")


@conduct.command("eligibility-template")
@click.argument("study_db")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def eligibility_template_command(study_db: str, as_json: bool) -> None:
    """The protocol's eligibility checklist, to fill in for `conduct enrol`."""
    criteria = eligibility_template(read_study(study_db).protocol)
    emit({"criteria": criteria}, as_json=as_json, title="Eligibility checklist")


@conduct.command("enrol")
@click.argument("study_db")
@user_option
@click.option("--patient", required=True, help="Study id, e.g. P01 (never a name).")
@click.option(
    "--eligibility",
    "answers_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="JSON or YAML: every criterion id of the checklist and its answer.",
)
@click.option("--stratum", help="The patient's stratum, e.g. site=A (as the list's strata).")
def enrol_command(study_db, user_name, patient, answers_path, stratum) -> None:
    """Enrol an eligible patient and randomize it (unblinded physician); the side is not
    printed: use `conduct reveal`."""
    user = login(study_db, user_name)
    answers = read_answers(answers_path)
    result = enrol(
        study_db,
        user,
        Author.now(user.name, user.role),
        patient=patient,
        answers=answers,
        stratum=stratum,
        today=dt.date.today(),
    )
    click.echo(f"{result['patient']}: enrolled and randomized, sequence number {result['seq']}")


@conduct.command("reveal")
@click.argument("study_db")
@user_option
@click.option("--patient", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def reveal_command(study_db: str, user_name: str, patient: str, as_json: bool) -> None:
    """The side to stimulate with the real coil (unblinded physician only; logged)."""
    user = login(study_db, user_name)
    result = reveal(study_db, user, Author.now(user.name, user.role), patient)
    emit(result, as_json=as_json, title=f"Allocation of {patient}")


def read_answers(path: Path) -> dict:
    """An eligibility answers file: a JSON or YAML mapping of criterion id to answer."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidValueError(f"{path}: cannot read: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise InvalidValueError(f"{path}: not JSON or YAML: {error}") from error
    if not isinstance(data, dict):
        raise InvalidValueError(f"{path}: a mapping of criterion id to answer is needed")
    return data


@conduct.command("visits")
@click.argument("study_db")
@user_option
@click.option("--patient", help="Only this patient.")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Date to judge the schedule on (default: today).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def visits_command(study_db, user_name, patient, today, as_json) -> None:
    """Each patient's visits: done, due, late, upcoming or missed (docs/conduct.md)."""
    login(study_db, user_name)
    study = read_study(study_db)
    day = today.date() if today else dt.date.today()
    schedule = visit_schedule(study.protocol, study.patients, study.visits, day)
    if patient:
        schedule = schedule[schedule["patient"] == patient]
        if schedule.empty:
            raise InvalidValueError(f"{patient} is not enrolled")
    counts = schedule.groupby(["time", "status"], sort=False).size().unstack(fill_value=0)
    result = {
        "today": day.isoformat(),
        "visits": json.loads(schedule.to_json(orient="records")),
        "counts": [
            {"time": t, **{k: int(v) for k, v in row.items()}} for t, row in counts.iterrows()
        ],
    }
    emit(result, as_json=as_json, title="Visit schedule")


DATE = click.DateTime(formats=["%Y-%m-%d"])


@conduct.command("session")
@click.argument("study_db")
@user_option
@click.option("--patient", required=True)
@click.option("--session", "number", type=int, required=True, help="Session number, 1-based.")
@click.option("--date", "day", type=DATE, help="Date of the session (default: today).")
@click.option("--operator", help="Who delivered it (default: the acting user).")
@click.option("--trains", type=int, help="Trains delivered (default: the protocol's).")
@click.option("--incomplete", is_flag=True, help="The session was stopped before its end.")
@click.option("--interruptions", type=int, default=0, show_default=True)
@click.option("--interruption-cause", "cause", help="Why it was interrupted or stopped.")
@click.option(
    "--coil-left",
    type=click.Choice(COILS),
    help="Coil on the left forearm (default: as allocated).",
)
@click.option(
    "--coil-right",
    type=click.Choice(COILS),
    help="Coil on the right forearm (default: as allocated).",
)
def session_command(
    study_db,
    user_name,
    patient,
    number,
    day,
    operator,
    trains,
    incomplete,
    interruptions,
    cause,
    coil_left,
    coil_right,
) -> None:
    """Log a stimulation session (unblinded physician); pulses follow from the trains."""
    user = login(study_db, user_name)
    row = log_session(
        study_db,
        user,
        Author.now(user.name, user.role),
        patient=patient,
        session=number,
        date=day.date() if day else dt.date.today(),
        trains=trains,
        completed=not incomplete,
        operator=operator,
        coils={"left": coil_left, "right": coil_right},
        interruptions=interruptions,
        interruption_cause=cause,
    )
    click.echo(
        f"{patient} session {number}: {row['trains']} trains, {row['pulses']:,} pulses per arm"
        f"; coils left {row['coil_left']}, right {row['coil_right']}"
    )


@conduct.command("adherence")
@click.argument("study_db")
@user_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def adherence_command(study_db: str, user_name: str, as_json: bool) -> None:
    """Sessions done of planned and pulses delivered per arm of planned, per patient."""
    user = login(study_db, user_name)
    study = read_study(study_db)
    table = adherence(study, sees_arms=user.sees_arms(study.meta))
    rows = json.loads(table.to_json(orient="records"))
    emit({"adherence": rows}, as_json=as_json, title="Adherence")


@conduct.command("adverse-event")
@click.argument("study_db")
@user_option
@click.option("--patient", required=True)
@click.option("--term", required=True, help="The event, verbatim.")
@click.option("--onset", type=DATE, required=True, help="Date of onset.")
@click.option("--severity", type=click.Choice(SEVERITIES), required=True)
@click.option("--serious", is_flag=True, help="A serious adverse event (ICH E2A).")
@click.option(
    "--related",
    "related_to",
    type=click.Choice(PROCEDURES),
    required=True,
    help="The trial procedure suspected of causing it, or none.",
)
@click.option(
    "--relatedness",
    type=click.Choice(RELATEDNESS),
    help="Causality (WHO-UMC); needed when a procedure is suspected.",
)
@click.option("--outcome", type=click.Choice(OUTCOMES), default="ongoing", show_default=True)
@click.option("--end", type=DATE, help="Date the event ended (a resolved event).")
@click.option("--action", type=click.Choice(ACTIONS), default="none", show_default=True)
@click.option("--side", type=click.Choice(SIDES), help="The side, for a local event.")
@click.option("--visit", help="The visit at which it was reported (e.g. FU3M).")
def adverse_event_command(
    study_db,
    user_name,
    patient,
    term,
    onset,
    severity,
    serious,
    related_to,
    relatedness,
    outcome,
    end,
    action,
    side,
    visit,
) -> None:
    """Report an adverse event (assessor or unblinded physician)."""
    user = login(study_db, user_name)
    row = report_adverse_event(
        study_db,
        user,
        Author.now(user.name, user.role),
        patient=patient,
        term=term,
        onset=onset.date(),
        severity=severity,
        serious=serious,
        related_to=related_to,
        relatedness=relatedness,
        outcome=outcome,
        side=side,
        visit=visit,
        end=end.date() if end else None,
        action=action,
    )
    click.echo(f"{patient}: adverse event {row['event']} recorded ({row['term']})")


@conduct.command("adverse-event-update")
@click.argument("study_db")
@user_option
@click.option("--patient", required=True)
@click.option("--event", type=int, required=True, help="The event's number within the patient.")
@click.option("--end", type=DATE, help="Date the event ended (sets outcome resolved).")
@click.option("--outcome", type=click.Choice(OUTCOMES))
@click.option("--action", type=click.Choice(ACTIONS))
@click.option("--severity", type=click.Choice(SEVERITIES))
@click.option("--serious/--not-serious", default=None, help="Seriousness (ICH E2A).")
@click.option("--related", "related_to", type=click.Choice(PROCEDURES))
@click.option("--relatedness", type=click.Choice(RELATEDNESS))
@click.option("--reason", help="Why a recorded value changes (not needed to resolve).")
def adverse_event_update_command(
    study_db,
    user_name,
    patient,
    event,
    end,
    outcome,
    action,
    severity,
    serious,
    related_to,
    relatedness,
    reason,
) -> None:
    """Follow up an adverse event: its end, outcome and action; corrections need a reason."""
    user = login(study_db, user_name)
    row = follow_up_adverse_event(
        study_db,
        user,
        Author.now(user.name, user.role),
        patient=patient,
        event=event,
        reason=reason,
        end=end.date() if end else None,
        outcome=outcome,
        action=action,
        severity=severity,
        serious=serious,
        related_to=related_to,
        relatedness=relatedness,
    )
    click.echo(f"{patient}: adverse event {event} is {row['outcome']} (action {row['action']})")

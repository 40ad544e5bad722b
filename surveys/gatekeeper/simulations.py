"""Rule simulations: a draft's rules replayed on the last days' decisions, in the background.

`rule_simulation_start` (a CX lead, from the admin or the API) stores a queued simulation and
queues `run_rule_simulation_task` after commit; `rule_simulation_run` (the task) claims it, splits
the period's decisions into batches of contacts, and runs simulation_sql's replay statement for
each, adding the batch's sums to the report and its decisions to `done` in the batch's own
transaction. A worker that dies leaves the simulation running with an old heartbeat: the task run
again (the broker redelivers it; `rule_simulation_resume_stuck` queues it) claims it and carries on
after the last batch stored. Never inside a web request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from cxfeedback.exceptions import NotFound
from cxfeedback.publish import publish_on_commit
from departments.actors import Actor
from departments.models import Department
from surveys.errors import DraftClosed, InvalidSimulation
from surveys.gatekeeper.rule_drafts import draft_rules_effective, require_cx_lead
from surveys.gatekeeper.rules import Rule
from surveys.gatekeeper.simulation_sql import TOUCHES_TOP_BUCKET, replay_statement
from surveys.models import RuleDraft, RuleSimulation, Survey

DEFAULT_DAYS = 90
MAX_DAYS = 366
# Decisions per batch: each batch sorts its decisions and touches once (in memory, see work_mem).
BATCH_DECISIONS = 250_000
# Batches replayed at once, each by a database backend of its own: the window aggregates of one
# statement run on one core, and this machine has two.
WORKERS = 2
# A running simulation whose heartbeat is older than this lost its worker: another may take it over.
STALE_AFTER = dt.timedelta(minutes=5)
# Fewer expected answers than this are not a useful sample: the results dashboard's threshold
# (results.selectors.figures.FEW_ANSWERS), written here so the gatekeeper does not import results.
USEFUL_SAMPLE = 30

State = RuleSimulation.State


def rule_simulation_start(
    *, actor: Actor, draft: RuleDraft, days: int = DEFAULT_DAYS, now: dt.datetime | None = None
) -> RuleSimulation:
    """Queue a simulation of the draft over the last `days` days (the task after commit). Raises
    RuleChangeForbidden, DraftClosed, InvalidSimulation (days out of range)."""
    with transaction.atomic():
        simulation = rule_simulation_create(actor=actor, draft=draft, days=days, now=now)
        from surveys.tasks import run_rule_simulation_task

        publish_on_commit(run_rule_simulation_task, simulation.pk)
    return simulation


def rule_simulation_create(
    *, actor: Actor, draft: RuleDraft, days: int = DEFAULT_DAYS, now: dt.datetime | None = None
) -> RuleSimulation:
    """A queued simulation of the draft's rules as they read now, not yet handed to a worker
    (rule_simulation_start does that; the benchmark runs it in process). Raises as start does."""
    require_cx_lead(actor)
    if draft.status != RuleDraft.Status.OPEN:
        raise DraftClosed("Only an open draft can be simulated.")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidSimulation(
            f"days: must be a whole number from 1 to {MAX_DAYS}.", extra={"field": "days"}
        )
    now = now or timezone.now()
    return RuleSimulation.objects.create(
        draft=draft,
        days=days,
        period_start=now - dt.timedelta(days=days),
        period_end=now,
        rules=[_rule_json(rule) for rule in draft_rules_effective(draft)],
        created_by_id=actor.user_id,
    )


def _rule_json(rule: Rule) -> dict[str, Any]:
    fields = dataclasses.asdict(rule)
    for name in ("window", "new_contact_grace"):
        fields[name] = fields[name].total_seconds() if fields[name] is not None else None
    return fields


def _rule_from_json(fields: dict[str, Any]) -> Rule:
    fields = dict(fields)
    for name in ("window", "new_contact_grace"):
        fields[name] = dt.timedelta(seconds=fields[name]) if fields[name] is not None else None
    return Rule(**fields)


def _claim(simulation_id: int, now: dt.datetime) -> RuleSimulation | None:
    """Take the simulation for this worker: queued, or running with a stale heartbeat. The
    conditional UPDATE decides between two workers given the same simulation (a redelivered task)."""
    claimed = RuleSimulation.objects.filter(
        Q(state=State.QUEUED) | Q(state=State.RUNNING, heartbeat_at__lt=now - STALE_AFTER), pk=simulation_id
    ).update(state=State.RUNNING, heartbeat_at=now)
    return RuleSimulation.objects.get(pk=simulation_id) if claimed else None


def rule_simulation_run(*, simulation_id: int, now: dt.datetime | None = None) -> RuleSimulation | None:
    """Run (or resume) a simulation to the end; None if another worker has it or it is finished.
    A failure is stored on it (state failed, the error) rather than raised."""
    simulation = _claim(simulation_id, now or timezone.now())
    if simulation is None:
        return None
    try:
        if simulation.started_at is None:
            _plan(simulation)
        _batches_run(simulation, [_rule_from_json(fields) for fields in simulation.rules])
        simulation.refresh_from_db()
        simulation.report = report_assemble(simulation.report.get("sums", {}))
        simulation.state, simulation.finished_at = State.DONE, timezone.now()
        simulation.save(update_fields=["report", "state", "finished_at"])
    except Exception as error:  # stored for the CX lead to read; the traceback goes to the log
        RuleSimulation.objects.filter(pk=simulation.pk).update(
            state=State.FAILED, error=f"{type(error).__name__}: {error}"[:2000], finished_at=timezone.now()
        )
        raise
    return simulation


def _plan(simulation: RuleSimulation) -> None:
    """Count the period's decisions and cut them into batches of contacts (fixed for a resume)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM surveys_decision WHERE decided_at >= %s AND decided_at < %s",
            [simulation.period_start, simulation.period_end],
        )
        (total,) = cursor.fetchone()
        batches = max(1, -(-total // BATCH_DECISIONS))
        bounds: list[list[int]] = [[-1, 2**62]]
        if total and batches > 1:
            cursor.execute(
                "SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY contact_id) "
                "FROM surveys_decision WHERE decided_at >= %s AND decided_at < %s",
                [[k / batches for k in range(1, batches)], simulation.period_start, simulation.period_end],
            )
            cuts = sorted(set(cursor.fetchone()[0]))
            edges = [-1, *cuts, 2**62]
            bounds = [[lo, hi] for lo, hi in itertools.pairwise(edges)]
    simulation.total, simulation.batch_bounds, simulation.started_at = total, bounds, timezone.now()
    simulation.report = {"sums": {}, "batches": []}
    simulation.save(update_fields=["total", "batch_bounds", "started_at", "report"])


def _batches_run(simulation: RuleSimulation, rules: list[Rule]) -> None:
    """Replay the batches not stored yet, WORKERS at a time, each on a database connection of its own."""
    done = set(simulation.report.get("batches", []))
    pending = [index for index in range(len(simulation.batch_bounds)) if index not in done]
    run = functools.partial(_batch_run, simulation, rules)
    if WORKERS == 1 or len(pending) < 2:
        for index in pending:
            run(index)
        return
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        # list(): the first batch that failed raises here, once the others have stopped.
        list(pool.map(functools.partial(_on_own_connection, run), pending))


def _on_own_connection(function, *args: Any) -> Any:
    """Call `function` in a pool's thread, closing the connection Django opened for the thread."""
    try:
        return function(*args)
    finally:
        connection.close()


def _batch_run(simulation: RuleSimulation, rules: list[Rule], index: int) -> None:
    """Replay batch `index` and add its sums, in one transaction: a batch counts once or not at all."""
    lo, hi = simulation.batch_bounds[index]
    params = {"start": simulation.period_start, "end": simulation.period_end, "lo": lo, "hi": hi}
    statement = replay_statement(rules, params)
    with transaction.atomic(), connection.cursor() as cursor:
        # The batch's stream of decisions and touches is sorted per contact for the rules' windows:
        # in memory, not in temporary files (a quarter of a million decisions take about 100 MB).
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # Compiling the statement's expressions took longer than it saved, each batch.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(statement, params)
        rows = cursor.fetchall()
        # The simulation's row is locked only now, for the merge: batches run side by side replay
        # at once and add their sums one after the other, none lost.
        locked = RuleSimulation.objects.select_for_update().get(pk=simulation.pk)
        decisions = _sums_add(locked.report.setdefault("sums", {}), rows)
        locked.report.setdefault("batches", []).append(index)
        locked.batches_done += 1
        locked.done += decisions
        locked.heartbeat_at = timezone.now()
        locked.save(update_fields=["report", "batches_done", "done", "heartbeat_at"])


def _sums_add(sums: dict, rows: list[tuple]) -> int:
    """Add one batch's rows to the running sums (JSON: string keys); returns its decisions."""
    decisions = 0
    for kind, department_id, survey_id, *values in rows:
        if kind == "survey":
            key = f"{department_id}:{survey_id}"
            current = sums.setdefault("surveys", {}).get(key, [0] * 6)
            sums["surveys"][key] = [a + b for a, b in zip(current, values, strict=True)]
            decisions += values[0]
        else:
            department = str(department_id) if department_id is not None else "all"
            buckets = sums.setdefault(kind, {}).setdefault(department, {})
            buckets[str(values[0])] = buckets.get(str(values[0]), 0) + values[1]
    return decisions


def _bucket_labels() -> list[str]:
    return [*(str(n) for n in range(TOUCHES_TOP_BUCKET)), f"{TOUCHES_TOP_BUCKET}+"]


def _distribution(sums: dict, department: str) -> dict[str, dict[str, int]]:
    labels = _bucket_labels()
    return {
        when: {label: sums.get(when, {}).get(department, {}).get(str(n), 0) for n, label in enumerate(labels)}
        for when in ("before", "after")
    }


def _survey_row(survey_id: int, name: str, sums: list[int]) -> dict:
    decisions, allowed, allowed_after, to_blocked, to_allowed, answers = sums
    # The survey's own response rate, applied to the contacts it would still reach.
    expected = round(answers * allowed_after / allowed) if allowed else 0
    return {
        "survey_id": survey_id,
        "name": name,
        "decisions": decisions,
        "allowed_before": allowed,
        "allowed_after": allowed_after,
        "allowed_to_blocked": to_blocked,
        "blocked_to_allowed": to_allowed,
        "answers_before": answers,
        "expected_answers_after": expected,
        "below_useful_sample": expected < USEFUL_SAMPLE,
        "falls_below_useful_sample": answers >= USEFUL_SAMPLE > expected,
    }


def _departments(sums: dict) -> list[dict]:
    """Per department (by name): its surveys' rows, their totals, its touches per contact."""
    keys = {key: tuple(int(part) for part in key.split(":")) for key in sums.get("surveys", {})}
    names = dict(Department.objects.filter(pk__in={d for d, _ in keys.values()}).values_list("pk", "name"))
    surveys = dict(Survey.objects.filter(pk__in={s for _, s in keys.values()}).values_list("pk", "name"))
    departments: dict[int, dict] = {}
    for key, (department_id, survey_id) in keys.items():
        department = departments.setdefault(
            department_id,
            {"department_id": department_id, "name": names.get(department_id, "?"), "surveys": []},
        )
        department["surveys"].append(
            _survey_row(survey_id, surveys.get(survey_id, "?"), sums["surveys"][key])
        )
    for department_id, department in departments.items():
        department["surveys"].sort(key=lambda row: row["name"])
        for field in ("decisions", "allowed_to_blocked", "blocked_to_allowed"):
            department[field] = sum(row[field] for row in department["surveys"])
        department["touches_per_contact"] = _distribution(sums, str(department_id))
    return sorted(departments.values(), key=lambda row: row["name"])


def report_assemble(sums: dict) -> dict:
    """The report a CX lead reads, from the sums: per department and survey, the decisions that
    would change, touches per contact before and after, and the surveys left below a useful sample."""
    departments = _departments(sums)
    return {
        "useful_sample": USEFUL_SAMPLE,
        "decisions": sum(row["decisions"] for row in departments),
        "allowed_to_blocked": sum(row["allowed_to_blocked"] for row in departments),
        "blocked_to_allowed": sum(row["blocked_to_allowed"] for row in departments),
        "touches_per_contact": _distribution(sums, "all"),
        "departments": departments,
        "falls_below_useful_sample": [
            {"department": row["name"], **survey}
            for row in departments
            for survey in row["surveys"]
            if survey["falls_below_useful_sample"]
        ],
    }


def rule_simulation_get(*, actor: Actor, simulation_id: int) -> RuleSimulation:
    """One simulation, for CX leads; NotFound for a missing one, and for anyone else."""
    simulations = RuleSimulation.objects.select_related("draft").filter(pk=simulation_id)
    simulation = simulations.first() if actor.is_cx_lead else None
    if simulation is None:
        raise NotFound(f"Rule simulation {simulation_id} not found.")
    return simulation


def rule_simulations_resume_stuck(*, now: dt.datetime | None = None) -> list[int]:
    """Queue again the simulations whose worker died (running, heartbeat older than STALE_AFTER) or
    whose task was lost (queued that long). Returns their ids."""
    now = now or timezone.now()
    stuck = RuleSimulation.objects.filter(
        Q(state=State.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
        | Q(state=State.QUEUED, created_at__lt=now - STALE_AFTER)
    ).values_list("pk", flat=True)
    from surveys.tasks import run_rule_simulation_task

    ids = list(stuck)
    for simulation_id in ids:
        run_rule_simulation_task.delay(simulation_id)
    return ids

"""Durable schedules: ``@DBOS.scheduled`` and ``DBOS.create_schedule`` (one table).

Cross-process tests run real workers (``dbos-queue worker tests.apps.schedule_app``);
the others launch DBOS in this process.
"""

from __future__ import annotations

import itertools
import queue
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from dbos_queue import DBOS, DBOSClient, EnqueueOptions, Queue
from dbos_queue.api import dbos as _dbos
from dbos_queue.error import DBOSException
from dbos_queue.queue import schedules as _scheduler
from tests.plugins.checks import must
from tests.plugins.waiting import wait_until
from tests.plugins.workers import Worker

ROOT = Path(__file__).resolve().parents[1]


# --- worker processes -------------------------------------------------------------------


def ScheduleWorker(url: str) -> Worker:
    """``dbos-queue worker tests.apps.schedule_app`` on ``url``."""
    return Worker(url, [], {}, [], app="tests.apps.schedule_app", url_env="SCHEDULE_APP_URL")


@pytest.fixture
def sched_db(db_url: str) -> str:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE sched_runs (schedule text NOT NULL, scheduled_at timestamptz"
            " NOT NULL, workflow_id text, pid int, second text, runs int NOT NULL"
            " DEFAULT 1, UNIQUE (schedule, scheduled_at))"
        )
    return db_url


@pytest.fixture
def start_sched_worker(sched_db: str) -> Iterator[Callable[[], Worker]]:
    started: list[Worker] = []

    def start() -> Worker:
        w = ScheduleWorker(sched_db)
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.communicate(timeout=30)


def _runs(url: str, schedule: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT scheduled_at, runs, workflow_id, pid FROM sched_runs"
            " WHERE schedule = %s ORDER BY scheduled_at",
            (schedule,),
        ).fetchall()


def _contiguous(ticks: list[datetime]) -> bool:
    return all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(ticks))


def _wait(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    return wait_until(cond, timeout, what, every=0.1)


# --- exactly once across processes ------------------------------------------------------


@pytest.mark.slow
def test_each_tick_runs_once_across_two_workers(
    sched_db: str, start_sched_worker: Callable[[], Worker]
) -> None:
    a = start_sched_worker()
    b = start_sched_worker()
    both_up = datetime.now(UTC)

    def window() -> list[tuple]:
        rows = [r for r in _runs(sched_db, "every_second") if r[0] > both_up]
        return rows if len(rows) >= 6 and _contiguous([r[0] for r in rows]) else []

    rows = _wait(window, 40, "six consecutive ticks while both workers run")
    for w in (a, b):
        code, _out, err = w.stop()
        assert code == 0, err[-3000:]
    everything = _runs(sched_db, "every_second")
    assert [r for r in everything if r[1] != 1] == [], "a tick ran more than once"
    for scheduled_at, _count, wf_id, _pid in rows:
        assert wf_id == f"sched-every_second-{scheduled_at.astimezone(UTC).isoformat()}"
    with psycopg.connect(sched_db) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT workflow_uuid FROM dbos.workflow_status WHERE name = 'every_second'"
            )
        ]
        mark = must(
            conn.execute(
                "SELECT watermark_epoch_ms, last_fired_at_epoch_ms, kind FROM"
                " dbos.workflow_schedules WHERE schedule_name = 'every_second'"
            ).fetchone()
        )
    assert len(ids) == len(set(ids)) >= len(everything)
    assert all(i.startswith("sched-every_second-") for i in ids)
    assert mark[2] == "decorator" and mark[1] is not None and mark[0] >= mark[1]


@pytest.mark.slow
def test_create_and_delete_take_effect_in_running_workers(
    sched_db: str, start_sched_worker: Callable[[], Worker]
) -> None:
    start_sched_worker()
    start_sched_worker()
    with DBOSClient(sched_db) as client:
        opts: EnqueueOptions = {"queue_name": "sched_admin", "workflow_name": "manage"}
        created = client.enqueue(opts, "create", "dyn", "* * * * * *", "dyn").get_result()

        def fired() -> list[tuple]:
            with psycopg.connect(sched_db) as conn:
                return conn.execute(
                    "SELECT workflow_uuid, created_at FROM dbos.workflow_status"
                    " WHERE workflow_uuid LIKE 'sched-dyn-%%' ORDER BY created_at"
                ).fetchall()

        first = _wait(fired, 10, "the first tick of the new schedule")[0]
        assert first[1] / 1000 - created <= 2.0, "the new schedule was not picked up within 2 s"
        _wait(lambda: len(_runs(sched_db, "dyn")) >= 2, 10, "two runs of the new schedule")
        deleted = client.enqueue(opts, "delete", "dyn").get_result()
        time.sleep(2.5)  # nothing to wait on: we check that nothing happens
        last = fired()[-1]
    assert last[1] <= deleted * 1000, "a tick was enqueued after delete_schedule returned"
    runs = _runs(sched_db, "dyn")
    assert all(r[1] == 1 for r in runs)
    assert all(r[0].timestamp() <= deleted for r in runs)
    with psycopg.connect(sched_db) as conn:
        second = must(
            conn.execute("SELECT second FROM sched_runs WHERE schedule = 'dyn' LIMIT 1").fetchone()
        )
        left = must(
            conn.execute(
                "SELECT count(*) FROM dbos.workflow_schedules WHERE schedule_name = 'dyn'"
            ).fetchone()
        )
    assert second[0] == repr({"tag": "dyn"})
    assert left[0] == 0


# --- declaration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cron, reason",
    [
        ("61 * * * * *", "out of range"),
        ("every minute", "columns"),
        ("* * 31 2 * *", "out of range"),
        ("", "expected a cron string"),
    ],
)
def test_bad_cron_is_rejected_at_declaration(cron: str, reason: str) -> None:
    before = len(_scheduler._declared)
    with pytest.raises(DBOSException, match=reason) as info:

        @DBOS.scheduled(cron)
        @DBOS.workflow()
        def badly_scheduled(scheduled_time: datetime, actual_time: datetime) -> None: ...

    assert repr(cron) in str(info.value) and "badly_scheduled" in str(info.value)
    assert len(_scheduler._declared) == before


def test_scheduling_a_step_is_rejected() -> None:
    with pytest.raises(DBOSException, match="not a workflow"):

        @DBOS.scheduled("* * * * * *")
        @DBOS.step()
        def a_step(scheduled_time: datetime, actual_time: datetime) -> None: ...


# --- in-process signatures -----------------------------------------------------------------


def test_decorated_workflow_gets_scheduled_and_actual_time(dbos: type[DBOS]) -> None:
    got: queue.Queue[tuple] = queue.Queue()

    @DBOS.scheduled("* * * * * *")
    @DBOS.workflow()
    def ticking(scheduled_time: datetime, actual_time: datetime) -> None:
        got.put(("above", scheduled_time, actual_time, DBOS.workflow_id))

    @DBOS.workflow()  # the other stacking order works too
    @DBOS.scheduled("*/2 * * * * *")
    def ticking_below(scheduled_time: datetime, actual_time: datetime) -> None:
        got.put(("below", scheduled_time, actual_time, DBOS.workflow_id))

    seen = {}
    deadline = time.monotonic() + 15
    while len(seen) < 2:
        where, s, a, wf_id = got.get(timeout=max(0.1, deadline - time.monotonic()))
        seen[where] = (s, a, wf_id)
    for where, name in (("above", ticking.__qualname__), ("below", ticking_below.__qualname__)):
        s, a, wf_id = seen[where]
        assert isinstance(s, datetime) and s.utcoffset() == timedelta(0) and s.microsecond == 0
        assert isinstance(a, datetime) and a.utcoffset() == timedelta(0)
        assert a >= s - timedelta(seconds=1)
        assert wf_id == f"sched-{name}-{s.isoformat()}"
    assert seen["below"][0].second % 2 == 0
    sched = DBOS.get_schedule(ticking.__qualname__)
    assert sched is not None
    # "kind" is this package's addition to DBOS's WorkflowSchedule, so not in its TypedDict.
    kind = cast(dict[str, Any], sched)["kind"]
    assert (kind, sched["schedule"], sched["status"], sched["context"]) == (
        "decorator",
        "* * * * * *",
        "ACTIVE",
        None,
    )
    assert sched["workflow_name"] == ticking.__qualname__


def test_created_schedule_gets_scheduled_time_and_context(dbos: type[DBOS]) -> None:
    got: queue.Queue[tuple] = queue.Queue()
    q = Queue("sched_target", concurrency=2)

    @DBOS.workflow()
    def on_tick(scheduled_time: datetime, context: Any) -> None:
        got.put((scheduled_time, context, DBOS.workflow_id))

    context = {"tag": "x", "n": [1, 2], "when": datetime(2024, 5, 1, tzinfo=UTC)}
    DBOS.create_schedule(
        schedule_name="api-1",
        workflow_fn=on_tick,
        schedule="* * * * * *",
        context=context,
        queue_name=q.name,
    )
    s, ctx, wf_id = got.get(timeout=10)
    DBOS.delete_schedule("api-1")
    assert ctx == context
    assert s.utcoffset() == timedelta(0) and s.microsecond == 0
    assert wf_id == f"sched-api-1-{s.isoformat()}"
    status = DBOS.get_workflow_status(wf_id)
    assert status is not None and status.queue_name == "sched_target"
    assert DBOS.get_schedule("api-1") is None


def test_cron_timezone(dbos: type[DBOS]) -> None:
    got: queue.Queue[tuple] = queue.Queue()

    @DBOS.workflow()
    def zoned(scheduled_time: datetime, context: Any) -> None:
        got.put((scheduled_time, DBOS.workflow_id))

    DBOS.create_schedule(
        schedule_name="zoned",
        workflow_fn=zoned,
        schedule="* * * * * *",
        cron_timezone="Asia/Kolkata",
    )
    s, wf_id = got.get(timeout=10)
    DBOS.delete_schedule("zoned")
    assert s.utcoffset() == timedelta(hours=5, minutes=30)
    assert wf_id == f"sched-zoned-{s.isoformat()}"
    with pytest.raises(DBOSException, match="cron_timezone"):
        DBOS.create_schedule(
            schedule_name="z2",
            workflow_fn=zoned,
            schedule="* * * * * *",
            cron_timezone="Mars/Olympus",
        )


# --- management ----------------------------------------------------------------------------


def test_list_get_delete_and_validation(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    def yearly(scheduled_time: datetime, context: Any) -> None: ...

    def not_a_workflow(scheduled_time: datetime, context: Any) -> None: ...

    never = "0 0 0 1 1 *"  # once a year: nothing fires during the test
    DBOS.create_schedule(
        schedule_name="report-a", workflow_fn=yearly, schedule=never, context={"k": 1}
    )
    DBOS.create_schedule(
        schedule_name="report-b", workflow_fn=yearly, schedule=never, automatic_backfill=True
    )
    DBOS.create_schedule(schedule_name="other", workflow_fn=yearly, schedule=never)

    names = [s["schedule_name"] for s in DBOS.list_schedules()]
    assert names == ["report-a", "report-b", "other"]
    a = DBOS.get_schedule("report-a")
    assert a is not None
    assert set(a) >= {
        "schedule_id",
        "schedule_name",
        "workflow_name",
        "workflow_class_name",
        "schedule",
        "status",
        "context",
        "last_fired_at",
        "automatic_backfill",
        "cron_timezone",
        "queue_name",
    }
    assert (
        a["workflow_name"],
        a["schedule"],
        a["status"],
        a["context"],
        a["last_fired_at"],
        a["automatic_backfill"],
        cast(dict[str, Any], a)["kind"],
    ) == (yearly.__qualname__, never, "ACTIVE", {"k": 1}, None, False, "api")
    assert [s["schedule_name"] for s in DBOS.list_schedules(schedule_name_prefix="report-")] == [
        "report-a",
        "report-b",
    ]
    assert [s["schedule_name"] for s in DBOS.list_schedules(schedule_name_prefix=["oth", "x"])] == [
        "other"
    ]
    assert len(DBOS.list_schedules(workflow_name=yearly.__qualname__, status="ACTIVE")) == 3
    assert DBOS.list_schedules(status="PAUSED") == []
    assert DBOS.get_schedule("missing") is None

    with pytest.raises(DBOSException, match="already exists"):
        DBOS.create_schedule(schedule_name="report-a", workflow_fn=yearly, schedule=never)
    with pytest.raises(DBOSException, match=r"not_a_workflow.*not registered"):
        DBOS.create_schedule(schedule_name="x", workflow_fn=not_a_workflow, schedule=never)
    with pytest.raises(DBOSException, match="out of range"):
        DBOS.create_schedule(schedule_name="x", workflow_fn=yearly, schedule="* 99 * * * *")
    with pytest.raises(DBOSException, match="Queue 'nope' is not declared"):
        DBOS.create_schedule(
            schedule_name="x", workflow_fn=yearly, schedule=never, queue_name="nope"
        )
    with pytest.raises(TypeError, match="colour"):  # DBOS's keywords are checked by Python
        DBOS.create_schedule(schedule_name="x", workflow_fn=yearly, schedule=never, colour="red")  # pyright: ignore[reportCallIssue]
    assert DBOS.get_schedule("x") is None

    DBOS.delete_schedule("report-a")
    DBOS.delete_schedule("report-a")  # absent: no-op
    assert [s["schedule_name"] for s in DBOS.list_schedules()] == ["report-b", "other"]


def test_pause_and_resume(dbos: type[DBOS]) -> None:
    got: queue.Queue[datetime] = queue.Queue()

    @DBOS.workflow()
    def pulse(scheduled_time: datetime, context: Any) -> None:
        got.put(scheduled_time)

    rt = _dbos._rt()
    assert rt is not None
    DBOS.create_schedule(schedule_name="pulse", workflow_fn=pulse, schedule="* * * * * *")
    got.get(timeout=10)
    rt.engine.run(_scheduler.pause_schedule(rt, "pulse"))
    paused_at = datetime.now(UTC)
    assert DBOS.get_schedule("pulse")["status"] == "PAUSED"  # type: ignore[index]
    time.sleep(2.2)  # nothing to wait on: we check that nothing fires while paused
    resuming_at = datetime.now(UTC)
    rt.engine.run(_scheduler.resume_schedule(rt, "pulse"))
    after = got.get(timeout=10)
    while after <= paused_at:  # runs of ticks fired before the pause
        after = got.get(timeout=10)
    assert after > resuming_at, "a tick due while paused was run"
    with pytest.raises(DBOSException, match="does not exist"):
        rt.engine.run(_scheduler.pause_schedule(rt, "nope"))
    DBOS.delete_schedule("pulse")


# --- missed ticks ----------------------------------------------------------------------------


def _tick_ids(url: str, name: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT workflow_uuid FROM dbos.workflow_status WHERE workflow_uuid LIKE %s",
                (f"sched-{name}-%",),
            )
        ]


def _seconds_between(after_ms: int, until_ms: int) -> list[str]:
    first = after_ms // 1000 + 1
    return [datetime.fromtimestamp(s, UTC).isoformat() for s in range(first, until_ms // 1000 + 1)]


def _down_for(url: str, names: list[str], seconds: float) -> int:
    """Pretend the fleet stopped ``seconds`` ago: move the watermarks back."""
    mark = int((time.time() - seconds) * 1000)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE dbos.workflow_schedules SET watermark_epoch_ms = %s"
            " WHERE schedule_name = ANY(%s)",
            (mark, names),
        )
    return mark


def test_missed_ticks_are_skipped_by_default_and_caught_up_on_request(
    config: dict, db_url: str
) -> None:
    DBOS.destroy(destroy_registry=True)
    DBOS(config=config)
    DBOS.launch()
    try:

        @DBOS.workflow()
        def missed(scheduled_time: datetime, context: Any) -> None: ...

        DBOS.create_schedule(schedule_name="skip", workflow_fn=missed, schedule="* * * * * *")
        DBOS.create_schedule(
            schedule_name="catch",
            workflow_fn=missed,
            schedule="* * * * * *",
            automatic_backfill=True,
        )
        DBOS.destroy()  # the whole fleet is down
        mark = _down_for(db_url, ["skip", "catch"], 20)
        with psycopg.connect(db_url, autocommit=True) as conn:  # forget what already ran
            conn.execute("DELETE FROM dbos.workflow_status WHERE workflow_uuid LIKE 'sched-%%'")
        relaunch = int(time.time() * 1000)
        DBOS(config=config)
        DBOS.launch()
        missed_ticks = _seconds_between(mark, relaunch)
        assert len(missed_ticks) >= 19
        expected = {f"sched-catch-{t}" for t in missed_ticks}
        _wait(lambda: expected <= set(_tick_ids(db_url, "catch")), 10, "the caught-up ticks")
        _wait(lambda: _tick_ids(db_url, "skip"), 10, "a new tick of 'skip'")
        stale = {f"sched-skip-{t}" for t in missed_ticks}
        assert not stale & set(_tick_ids(db_url, "skip")), "a missed tick ran under skip"
        assert DBOS.get_schedule("skip")["last_fired_at"] is not None  # type: ignore[index]
    finally:
        DBOS.destroy(destroy_registry=True)


def test_schedule_catchup_config_and_decorated_schedule_after_delete(
    config: dict, db_url: str
) -> None:
    DBOS.destroy(destroy_registry=True)
    DBOS(config={**config, "schedule_catchup": True})
    DBOS.launch()
    try:

        @DBOS.scheduled("* * * * * *")
        @DBOS.workflow()
        def decorated(scheduled_time: datetime, actual_time: datetime) -> None: ...

        name = decorated.__qualname__
        DBOS.destroy()
        mark = _down_for(db_url, [name], 10)
        relaunch = int(time.time() * 1000)
        DBOS(config={**config, "schedule_catchup": True})
        DBOS.launch()
        expected = {f"sched-{name}-{t}" for t in _seconds_between(mark, relaunch)}
        _wait(lambda: expected <= set(_tick_ids(db_url, name)), 10, "the caught-up ticks")

        # Deleting a decorated schedule stops it until a declaring process launches again.
        DBOS.delete_schedule(name)
        assert DBOS.get_schedule(name) is None
        DBOS.destroy()
        DBOS(config=config)
        DBOS.launch()
        again = DBOS.get_schedule(name)
        assert again is not None and cast(dict[str, Any], again)["kind"] == "decorator"
    finally:
        DBOS.destroy(destroy_registry=True)


def test_backfill_trigger_and_a_broken_schedule(dbos: type[DBOS], db_url: str) -> None:
    got: queue.Queue[tuple] = queue.Queue()

    @DBOS.workflow()
    def manual(scheduled_time: datetime, context: Any) -> None:
        got.put((scheduled_time, context))

    rt = _dbos._rt()
    assert rt is not None
    DBOS.create_schedule(
        schedule_name="manual", workflow_fn=manual, schedule="0 0 * * * *", context="ctx"
    )
    start = datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    ids = rt.engine.run(
        _scheduler.backfill_schedule(rt, "manual", start, start + timedelta(hours=3))
    )
    assert ids == [f"sched-manual-{(start + timedelta(hours=h)).isoformat()}" for h in range(3)]
    again = rt.engine.run(
        _scheduler.backfill_schedule(rt, "manual", start, start + timedelta(hours=3))
    )
    assert again == ids  # deterministic ids: nothing runs twice
    for wf_id in ids:
        assert DBOS.retrieve_workflow(wf_id).get_result() is None
    ran = sorted(got.get(timeout=10) for _ in ids)
    assert ran == [(start + timedelta(hours=h), "ctx") for h in range(3)]
    assert got.empty()
    trigger_id = rt.engine.run(_scheduler.trigger_schedule(rt, "manual"))
    assert trigger_id.startswith("sched-manual-trigger-")
    DBOS.retrieve_workflow(trigger_id).get_result()

    # A schedule row that cannot fire (stored with a bad cron by hand) does not stop the others.
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_schedules (schedule_name, workflow_name, schedule,"
            " context, kind, watermark_epoch_ms) VALUES ('broken', %s, '99 * * * * *',"
            " 'null', 'api', 0)",
            (manual.__qualname__,),
        )
    DBOS.create_schedule(
        schedule_name="healthy", workflow_fn=manual, schedule="* * * * * *", context="healthy"
    )
    _wait(lambda: any(c == "healthy" for _s, c in [got.get(timeout=10)]), 10, "a healthy tick")
    DBOS.delete_schedule("healthy")
    assert DBOS.get_schedule("broken")["schedule"] == "99 * * * * *"  # type: ignore[index]

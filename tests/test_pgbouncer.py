"""The whole data path through a real PgBouncer in transaction pooling mode.

Workers and clients reach Postgres only through the pooler (tests/plugins/pgbouncer.py),
with server-side prepared statements off (DBOS_QUEUE_PREPARE_THRESHOLD=off, or
DBOSClient(prepare_threshold=None)). The one LISTEN connection per process goes
straight to Postgres (DBOS_QUEUE_LISTEN_DATABASE_URL), or there is none at all
(DBOS_QUEUE_USE_LISTEN_NOTIFY=false) and the process polls. Every step body and schedule
tick writes one row to ``pgb_effects`` outside the library, so duplicates are counted.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from dbos_queue import DBOS, DBOSClient, EnqueueOptions
from dbos_queue.db import migrate as _migrate
from tests.plugins.pgbouncer import PgBouncer
from tests.plugins.workers import Worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
TOKEN = "pgb-admin-token"
LISTEN_APP = "dbosq-direct-listen"  # application_name of the direct LISTEN connections


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll a database state until ``check`` returns something truthy, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def q1(url: str, query: str, params: Any = None) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None


def listen_backends(direct_url: str, app_name: str | None = None) -> int:
    """Backends of this database whose last statement was a LISTEN."""
    return int(
        q1(
            direct_url,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND query ILIKE 'LISTEN %%' AND (%s::text IS NULL OR application_name = %s)",
            (app_name, app_name),
        )
    )


def duplicates(direct_url: str, kind: str) -> list:
    with psycopg.connect(direct_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT key, count(*) FROM pgb_effects WHERE kind = %s GROUP BY key"
            " HAVING count(*) > 1",
            (kind,),
        ).fetchall()


def count(direct_url: str, kind: str, like: str = "%") -> int:
    return int(
        q1(
            direct_url,
            "SELECT count(*) FROM pgb_effects WHERE kind = %s AND key LIKE %s",
            (kind, like),
        )
    )


def statuses(direct_url: str, ids: list[str]) -> dict[str, str]:
    with psycopg.connect(direct_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT workflow_uuid, status FROM dbos.workflow_status WHERE workflow_uuid = ANY(%s)",
            (ids,),
        ).fetchall()
    return dict(rows)


def all_success(direct_url: str, ids: list[str]) -> bool:
    got = statuses(direct_url, ids)
    bad = [s for s in got.values() if s in ("ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")]
    assert not bad, f"workflows failed through the pooler: {bad}"
    return len(got) == len(ids) and all(s == "SUCCESS" for s in got.values())


@pytest.fixture
def effects_db(db_url: str) -> str:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE pgb_effects (kind text, key text, pid int)")
    return db_url


@pytest.fixture
def pgb_workers(effects_db: str, pgb_url: str) -> Iterator[Callable[..., Worker]]:
    """Start pgb_app workers whose system database URL is the pooler's."""
    started: list[Worker] = []

    def start(*, polling: bool = False) -> Worker:
        env = {
            "PGB_APP_DIRECT_URL": effects_db,
            "DBOS_QUEUE_PREPARE_THRESHOLD": "off",
            "DBOS_QUEUE_ADMIN_TOKEN": TOKEN,
        }
        if polling:
            env["DBOS_QUEUE_USE_LISTEN_NOTIFY"] = "false"
        else:
            env["DBOS_QUEUE_LISTEN_DATABASE_URL"] = f"{effects_db}&application_name={LISTEN_APP}"
        w = Worker(pgb_url, [], env, [], app="tests.apps.pgb_app", url_env="PGB_APP_URL")
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.communicate(timeout=30)


def _admin_get(worker: Worker, path: str) -> tuple[int, Any]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{worker.admin_port}{path}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


def _messaging(client: DBOSClient) -> None:
    """send/recv, events and streams, from a client through the pooler."""
    handle = client.enqueue({"queue_name": "pgb", "workflow_name": "chat"}, 3)
    client.send(handle.get_workflow_id(), "hello", "ping")
    assert client.get_event(handle.get_workflow_id(), "got", timeout_seconds=60) == "hello"
    assert list(client.read_stream(handle.get_workflow_id(), "s")) == [0, 1, 2]
    assert handle.get_result() == "hello!"


def _cancel_and_resume(client: DBOSClient, direct_url: str) -> None:
    """Cancel a sleeping workflow, resume it: the cancelled execution stops before its next
    step (whose body never runs there), the resumed one finishes; each step body runs once."""
    sleeper = client.enqueue({"queue_name": "pgb", "workflow_name": "sleeper"}, 3.0)
    sid = sleeper.get_workflow_id()
    # Cancel once the sleep is recorded: its first step's checkpoint is then written (a
    # cancel between that step's body and its checkpoint refuses the checkpoint instead,
    # outside the try that writes "cancel seen").
    wait_until(
        lambda: q1(
            direct_url,
            "SELECT count(*) FROM dbos.operation_outputs WHERE workflow_uuid = %s"
            " AND function_name = 'DBOS.sleep'",
            (sid,),
        ),
        "the sleeper's sleep to be recorded",
    )
    assert count(direct_url, "step", f"{sid}:%") == 1
    client.cancel_workflow(sid)
    wait_until(lambda: statuses(direct_url, [sid]) == {sid: "CANCELLED"}, "the cancel")
    # The sleeping execution hears of it (NOTIFY, or the cancellation poll) and stops
    # when its sleep ends, before its next step body.
    wait_until(lambda: count(direct_url, "cancel seen", sid) == 1, "the cancel to reach it")
    assert count(direct_url, "step", f"{sid}:1") == 0  # stopped before the body, not after
    client.resume_workflow(sid)
    assert sleeper.get_result() == "woke"
    assert count(direct_url, "step", f"{sid}:0") == 1  # recorded before the cancel
    assert count(direct_url, "step", f"{sid}:1") == 1


def _enqueue_steps(client: DBOSClient, singles: int, batch: int) -> list[str]:
    ids = [
        client.enqueue({"queue_name": q, "workflow_name": "steps"}, 3).get_workflow_id()
        for q in ["pgb", "pgb_limited"] * (singles // 2)
    ]
    ids += client.enqueue_many({"queue_name": "pgb", "workflow_name": "steps"}, [(3,)] * batch)
    return ids


def test_data_path_through_pgbouncer_exactly_once(
    effects_db: str, pgb_url: str, pgb_workers: Callable[..., Worker]
) -> None:
    w1, w2 = pgb_workers(), pgb_workers()
    # One LISTEN connection per worker, straight to Postgres (its own application_name).
    wait_until(lambda: listen_backends(effects_db, LISTEN_APP) == 2, "a direct LISTEN per worker")
    with DBOSClient(pgb_url, prepare_threshold=None) as client:
        ids = _enqueue_steps(client, singles=120, batch=60)
        _messaging(client)
        wait_until(lambda: all_success(effects_db, ids), "180 queued workflows to succeed", 120)
        assert count(effects_db, "step") == 3 * len(ids)
        assert duplicates(effects_db, "step") == []
        # Both workers took part: claims and checkpoints of each went through the pooler.
        assert int(q1(effects_db, "SELECT count(DISTINCT pid) FROM pgb_effects")) == 2

        # Management through the pooler: list, cancel, resume, fork.
        listed = client.list_workflows(workflow_ids=ids[:5])
        assert sorted(s.workflow_id for s in listed) == sorted(ids[:5])
        assert {s.status for s in listed} == {"SUCCESS"}
        _cancel_and_resume(client, effects_db)
        fork = client.fork_workflow(ids[0], 2)
        assert fork.get_result() == 3
        assert 1 <= count(effects_db, "step", f"{fork.get_workflow_id()}:%") <= 3
        assert duplicates(effects_db, "step") == []

        # Schedules: ticks fire through the pooler, each once across both workers.
        wait_until(lambda: count(effects_db, "tick") >= 2, "two schedule ticks")
        assert duplicates(effects_db, "tick") == []

    # The admin API of a worker lists the queues (its reads go through the pooler too).
    status, body = _admin_get(w1, "/queues")
    assert status == 200 and "pgb_limited" in json.dumps(body)
    assert _admin_get(w2, "/dbos-healthz")[0] == 200
    for w in (w1, w2):
        rc, _out, err = w.stop()
        assert rc == 0, err[-3000:]
        assert "prepared statement" not in err, err[-3000:]


def test_use_listen_notify_false_polls_without_a_listen_connection(
    effects_db: str, pgb_url: str, pgb_workers: Callable[..., Worker]
) -> None:
    worker = pgb_workers(polling=True)
    samples: list[int] = []

    def no_listen_and(check: Callable[[], Any]) -> Callable[[], Any]:
        def sampled() -> Any:
            samples.append(listen_backends(effects_db))
            return check()

        return sampled

    with DBOSClient(pgb_url, prepare_threshold=None) as client:
        assert client.engine.listen is False  # DBOS's default for a client
        ids = _enqueue_steps(client, singles=20, batch=10)
        _messaging(client)
        wait_until(no_listen_and(lambda: all_success(effects_db, ids)), "polled workflows", 90)
        wait_until(no_listen_and(lambda: count(effects_db, "tick") >= 2), "polled ticks")
        assert count(effects_db, "step") == 3 * len(ids)
        _cancel_and_resume(client, effects_db)  # the cancel is found by polling too
        samples.append(listen_backends(effects_db))
    assert duplicates(effects_db, "step") == [] and duplicates(effects_db, "tick") == []
    assert samples and set(samples) == {0}, f"a LISTEN connection appeared: {samples}"
    assert _admin_get(worker, "/dbos-healthz")[0] == 200  # healthy without a listener
    rc, _out, err = worker.stop()
    assert rc == 0, err[-3000:]


def test_client_prepared_statements_break_in_transaction_mode_unless_off(
    db_url: str, pgb_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO dbos.queues (name) VALUES ('pgb')")
    opts: EnqueueOptions = {"queue_name": "pgb", "workflow_name": "steps"}

    def enqueue_alternately(a: DBOSClient, b: DBOSClient, n: int) -> None:
        for i in range(n):
            (a if i % 2 else b).enqueue(opts, i)

    # The control: server-side prepared statements (here from the first use) cannot
    # survive transaction pooling, as issue 12 saw with psycopg's default threshold.
    with (
        DBOSClient(pgb_url, prepare_threshold=0) as a,
        DBOSClient(pgb_url, prepare_threshold=0) as b,
        pytest.raises(psycopg.Error, match="prepared statement"),
    ):
        enqueue_alternately(a, b, 40)
    with (
        DBOSClient(pgb_url, prepare_threshold="off") as a,
        DBOSClient(system_database_url=pgb_url, prepare_threshold=None) as b,
    ):
        enqueue_alternately(a, b, 200)
    # The documented switch, read from the environment as the Helm chart sets it.
    monkeypatch.setenv("DBOS_QUEUE_PREPARE_THRESHOLD", "off")
    with DBOSClient(pgb_url) as a, DBOSClient(pgb_url) as b:
        assert a.engine.prepare_threshold is None
        enqueue_alternately(a, b, 200)
    assert q1(db_url, "SELECT count(*) FROM dbos.workflow_status WHERE queue_name = 'pgb'") >= 400


def test_concurrent_migrations_through_pgbouncer(empty_db_url: str, pgbouncer: PgBouncer) -> None:
    url = pgbouncer.url_for(empty_db_url)
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(_migrate.migrate(url))
        except Exception as exc:  # reported below with the others' results
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not [r for r in results if isinstance(r, Exception)], results
    applied = [r for r in results if r]
    assert len(results) == 4 and len(applied) == 1  # one applied everything, under the lock
    assert applied[0] == [v for v, _p in _migrate.available()]
    assert _migrate.current_version(empty_db_url) == _migrate.latest_version()


@pytest.fixture
def config(db_url: str, pgb_url: str) -> dict[str, Any]:
    """In-process DBOS whose pool goes through the pooler, LISTEN straight to Postgres."""
    return {
        "name": "pgb-inproc",
        "system_database_url": pgb_url,
        "listen_database_url": db_url,
        "prepare_threshold": None,
        "executor_lease_sec": 3.0,
    }


def test_in_process_workflows_through_pgbouncer(dbos: Any, db_url: str) -> None:
    @DBOS.step()
    def double(x: int) -> int:
        return 2 * x

    @DBOS.workflow()
    def talk(n: int) -> int:
        DBOS.set_event("ready", True)
        got = DBOS.recv("in", timeout_seconds=60)
        return sum(double(i) for i in range(n)) + got

    results = []
    for i in range(30):  # many runs: a prepared statement would resurface within a few
        handle = DBOS.start_workflow(talk, 4)
        assert DBOS.get_event(handle.get_workflow_id(), "ready", timeout_seconds=60) is True
        DBOS.send(handle.get_workflow_id(), i, "in")
        results.append(handle.get_result())
    assert results == [12 + i for i in range(30)]
    assert listen_backends(db_url) == 1  # this process's one LISTEN, on the direct URL


def test_launch_creates_and_migrates_a_new_database_through_pgbouncer(
    pg_server_url: str, pgbouncer: PgBouncer
) -> None:
    from tests.plugins.pg import drop_database

    name = f"pgb_new_{int(time.time() * 1000)}"
    direct = pg_server_url.replace("/postgres?", f"/{name}?", 1)
    DBOS.destroy(destroy_registry=True)
    DBOS(config={"name": "pgb-new", "system_database_url": pgbouncer.url_for(direct),
                 "listen_database_url": direct, "prepare_threshold": None})  # fmt: skip
    try:

        @DBOS.workflow()
        def hello(x: int) -> int:
            return x + 1

        DBOS.launch()
        assert hello(1) == 2
        assert _migrate.current_version(direct) == _migrate.latest_version()
    finally:
        DBOS.destroy(destroy_registry=True)
        drop_database(pg_server_url, direct)

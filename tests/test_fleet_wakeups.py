"""Fleet wake-ups (issue 12): a notification wakes only who needs it, and nothing is lost.

- queue notifications carry how many workflows arrived; the fleet takes turns
  (queue/wakeup.py) and every job still starts at once, with polling out of the way;
- several producer processes announce exactly what they stored (coalesced counts);
- "workflow done" reaches a process that waits for that workflow, and nobody else.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from typing import LiteralString

import psycopg

from dbos_queue import DBOS, DBOSClient, SetWorkflowID
from dbos_queue.api.dbos import _rt
from dbos_queue.db.notify import parse_queue_payload
from dbos_queue.queue.wakeup import FANOUT, my_turn, on_duty
from tests.plugins.checks import must
from tests.plugins.workers import ROOT


def _wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _one(url: str, query: LiteralString, params=None):
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchone()


def test_turns_cover_every_notification_and_rotate_through_the_fleet():
    members = [f"p{i:02d}" for i in range(16)]
    turns: Counter[str] = Counter()
    for seq in range(160):
        chosen = [m for m in members if my_turn(members, m, 1, seq)]
        assert len(chosen) == FANOUT, (seq, chosen)
        turns.update(chosen)
    assert turns == dict.fromkeys(members, 160 * FANOUT // 16)  # an even share each
    # As much work as the fleet can take wakes every worker; a small fleet always wakes.
    assert all(my_turn(members, m, 8, 3) for m in members)
    assert all(my_turn(["a", "b"], m, 1, s) for m in "ab" for s in range(4))
    # A process its peers do not list yet (it just joined) decides in its own view.
    assert sum(my_turn(members[:3], "zz", 1, s) for s in range(4)) == 2


def test_directed_notifications_start_every_job_at_once_across_a_fleet(start_worker, app_db):
    # Polling every 60 s and a tick every ~10 s (lease 30): a job starting within a few
    # seconds was woken by a notification, which went to two chosen workers only.
    workers = [start_worker("slowpoll", env={"QUEUE_APP_LEASE": "30"}) for _ in range(4)]
    _wait_until(
        lambda: must(
            _one(
                app_db,
                "SELECT count(*) = 4 FROM dbos.executors WHERE 'slowpoll' = ANY(queues)"
                " AND lease_expires_at_epoch_ms > 0",
            )
        )[0],
        30,
        "every worker to publish the queues it claims from",
    )
    listener = psycopg.connect(app_db, autocommit=True)
    listener.execute("LISTEN dbos_queue_channel")
    listener.execute("LISTEN dbos_streams_channel")
    with DBOSClient(app_db) as client:
        for i in range(12):
            t0 = time.time()
            h = client.enqueue(
                {"queue_name": "slowpoll", "workflow_name": "timed"}, "slowpoll", f"j{i}", 0.0
            )
            started = _wait_until(
                lambda h=h: _one(
                    app_db, "SELECT started FROM runs WHERE workflow_id = %s", (h.workflow_id,)
                ),
                30,
                f"job {i} to run",
            )[0]
            assert started - t0 < 5.0, f"job {i} started {started - t0:.1f}s after its enqueue"
        # The client knew the fleet: it notified two chosen workers on their own channels,
        # never every listener on the shared one (the marker comes after all it sent).
        client.engine.loop.call_soon_threadsafe(client.engine.publish, "stream", "marker::k")
        shared = []
        for n in listener.notifies(timeout=20):
            if n.channel == "dbos_streams_channel" and n.payload == "marker::k":
                break
            shared += [parse_queue_payload(p)[0] for p in n.payload.split("\n")]
        else:
            raise AssertionError("the marker notification never arrived")
        listener.close()
        assert "slowpoll" not in shared
    runs = _one(app_db, "SELECT count(*), count(DISTINCT workflow_id) FROM runs")
    assert runs == (12, 12)
    for w in workers:
        assert w.stop()[0] == 0


def test_a_producer_that_saw_no_claimer_finds_a_joined_worker_at_its_next_announcement(
    start_worker, app_db
):
    # A producer started together with its workers may read the fleet before any worker
    # published its queues. Its empty view is read again at the next announcement made on
    # it, so the worker is told directly from then on (W2's first half second, issue 11).
    with DBOSClient(app_db) as client:
        notifier = client.engine.notifier
        w = start_worker("free")
        (pid,) = must(
            _wait_until(
                lambda: _one(
                    app_db,
                    "SELECT process_id FROM dbos.executors WHERE 'free' = ANY(queues)"
                    " AND lease_expires_at_epoch_ms > 0",
                ),
                30,
                "the worker to publish its queues",
            )
        )
        notifier.members["free"] = (time.monotonic(), [])  # a fresh read that found nobody
        sent = notifier.sent
        h = client.enqueue({"queue_name": "free", "workflow_name": "timed"}, "free", "j0", 0.0)
        _wait_until(lambda: notifier.sent > sent, 10, "the announcement")
        assert notifier.members["free"][1] == [pid]  # read again, not kept for EMPTY_TTL_SEC
        assert notifier.direct("free") is not None  # the next enqueue notifies it directly
        assert isinstance(h.get_result(), str)  # and the job ran
    assert w.stop()[0] == 0


def test_several_producers_announce_exactly_what_they_stored(start_worker, app_db):
    start_worker("free")
    producers, per = 4, 25
    announced: Counter[str] = Counter()
    with psycopg.connect(app_db, autocommit=True) as listener:
        listener.execute("LISTEN dbos_queue_channel")
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.apps.producer", app_db, "free", str(per), f"p{k}"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for k in range(producers)
        ]
        ids = []
        for p in procs:
            out, _ = p.communicate(timeout=120)
            assert p.returncode == 0
            ids += out.split()
        assert len(set(ids)) == producers * per
        for n in listener.notifies(timeout=30):
            for payload in n.payload.split("\n"):
                name, count, _seq, origin = parse_queue_payload(payload)
                if name == "free" and count:
                    announced[origin or "?"] += count
            if sum(announced.values()) >= producers * per:
                break
    assert sum(announced.values()) == producers * per  # every enqueue counted, once
    assert len(announced) == producers  # each producer announced its own
    _wait_until(
        lambda: must(_one(app_db, "SELECT count(*) FROM runs"))[0] == producers * per,
        60,
        "the runs",
    )
    assert must(_one(app_db, "SELECT count(DISTINCT workflow_id) FROM runs"))[0] == producers * per


def test_a_listening_client_is_woken_when_the_workflow_it_awaits_finishes(dbos, db_url):
    go = threading.Event()

    @DBOS.workflow()
    def slow() -> str:
        go.wait(20)
        return "done"

    with SetWorkflowID("awaited"):
        DBOS.start_workflow(slow)
    with DBOSClient(db_url, use_listen_notify=True) as client:
        client.engine.poll_fallback_sec = 60.0  # only a NOTIFY can wake it in time
        got: dict = {}
        t = threading.Thread(target=lambda: got.update(r=client.get_result("awaited", 45)))
        t.start()
        _wait_until(
            lambda: must(
                _one(
                    db_url,
                    "SELECT count(*) FROM dbos.result_waiters WHERE workflow_uuid = 'awaited'",
                )
            )[0],
            20,
            "the client to register as a waiter",
        )
        t0 = time.monotonic()
        go.set()
        t.join(50)
        assert got == {"r": "done"}
        assert time.monotonic() - t0 < 20
    left = _one(db_url, "SELECT count(*) FROM dbos.result_waiters WHERE workflow_uuid = 'awaited'")
    assert left == (0,)


def test_finished_workflows_nobody_awaits_send_no_notification(dbos, db_url):
    @DBOS.workflow()
    def quick(i: int) -> int:
        return i

    rt = _rt()
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN dbos_workflow_done_channel")
        listener.execute("LISTEN dbos_streams_channel")
        for i in range(20):
            with SetWorkflowID(f"unawaited-{i}"):
                DBOS.start_workflow(quick, i)
        # Read the table, not get_result (which would register as a waiter).
        _wait_until(
            lambda: must(
                _one(
                    db_url,
                    "SELECT count(*) = 20 FROM dbos.workflow_status"
                    " WHERE workflow_uuid LIKE 'unawaited-%%' AND status = 'SUCCESS'",
                )
            )[0],
            30,
            "the workflows to finish",
        )
        _wait_until(lambda: not rt.engine.notifier.pending(), 10, "the notifier to flush")
        # Published after every completion was flushed: it arrives after anything they sent.
        rt.engine.loop.call_soon_threadsafe(rt.engine.publish, "stream", "marker::k")
        heard = []
        for n in listener.notifies(timeout=20):
            if n.channel == "dbos_streams_channel" and n.payload == "marker::k":
                break
            heard.append((n.channel, n.payload))
        else:
            raise AssertionError("the marker notification never arrived")
    assert [h for h in heard if h[0] == "dbos_workflow_done_channel"] == []


# ---- listening duty (max_listening_workers) ------------------------------------------


def test_listening_duty_settles_on_the_limit_and_replaces_a_listener_that_leaves():
    fleet = {"q": ["a", "b", "c"]}
    assert on_duty(fleet, "a", 2, True) and on_duty(fleet, "b", 2, True)
    assert not on_duty(fleet, "c", 2, True)  # ranks past the first two: leaves
    assert on_duty({"q": ["a", "b"]}, "b", 2, True)  # at the limit: nobody leaves
    assert not on_duty({"q": ["a", "b"]}, "c", 2, False)  # full: an idle one stays off
    assert on_duty({"q": ["a"]}, "c", 2, False)  # one gone: an idle one joins
    assert on_duty({"q": []}, "c", 1, False) and on_duty({}, "c", 1, False)
    # Not yet listed by the fleet (its row is being written): it keeps listening.
    assert on_duty({"q": ["a", "b", "c"]}, "zz", 2, True)
    # Several queues: a process leaves only when no queue needs it.
    two = {"q": ["a", "b", "c"], "r": ["c"]}
    assert on_duty(two, "c", 2, True)
    assert not on_duty({"q": ["a", "b", "c"], "r": ["a", "b", "c"]}, "c", 2, True)
    assert on_duty({"q": ["a", "b"], "r": ["a"]}, "c", 2, False)


def _listening_backends(url: str) -> int:
    """LISTEN sessions on this database (a listener's last statement is a LISTEN)."""
    return int(
        must(
            _one(
                url,
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN %%'",
            )
        )[0]
    )


def _listed(url: str, queue: str) -> list[int]:
    """Worker pids whose executor row lists ``queue`` (the listening claimers)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM dbos.executors WHERE %s = ANY(queues)"
            " AND lease_expires_at_epoch_ms > (EXTRACT(EPOCH FROM now()) * 1000)",
            (queue,),
        ).fetchall()
    return sorted(r[0] for r in rows)


def test_only_the_listening_limit_of_a_fleet_keeps_a_listen_session(start_worker, app_db):
    """Three workers, max_listening_workers 1: one keeps its LISTEN session and takes the
    fleet's turns, the other two close theirs and poll (1 s); every job still runs once;
    when the listener is killed, one of the others takes over listening."""
    env = {"DBOS_QUEUE_MAX_LISTENING_WORKERS": "1", "QUEUE_APP_LEASE": "1.5"}
    workers = {w.pid: w for w in (start_worker("free", env=env) for _ in range(3))}
    _wait_until(
        lambda: len(_listed(app_db, "free")) == 1 and _listening_backends(app_db) == 1,
        30,
        "the fleet to settle on one listener",
    )
    (listener,) = _listed(app_db, "free")
    with DBOSClient(app_db) as client:
        handles = [
            client.enqueue({"queue_name": "free", "workflow_name": "timed"}, "free", f"a{i}", 0.0)
            for i in range(20)
        ]
        assert [h.get_result() for h in handles] == [f"a{i}" for i in range(20)]
        workers[listener].proc.kill()  # SIGKILL: no goodbye, its lease runs out
        workers[listener].proc.communicate(timeout=30)
        _wait_until(
            lambda: (got := _listed(app_db, "free")) and listener not in got,
            30,
            "another worker to take over listening",
        )
        _wait_until(lambda: _listening_backends(app_db) == 1, 30, "one listener again")
        later = [
            client.enqueue({"queue_name": "free", "workflow_name": "timed"}, "free", f"b{i}", 0.0)
            for i in range(10)
        ]
        assert [h.get_result() for h in later] == [f"b{i}" for i in range(10)]
    runs = _one(app_db, "SELECT count(*), count(DISTINCT workflow_id) FROM runs")
    assert runs == (30, 30)
    for pid, w in workers.items():
        if pid != listener:
            assert w.stop()[0] == 0


def test_a_fleet_started_all_at_once_opens_only_the_listening_limit_of_listen_sessions(
    start_worker, app_db
):
    """Three workers, max_listening_workers 1, let through their registration together
    (the test holds dbos.executors until all three wait on it): each decides in turn
    whether to listen, so exactly one ever opens a LISTEN session; every job runs once."""
    env = {"DBOS_QUEUE_MAX_LISTENING_WORKERS": "1"}
    gate = psycopg.connect(app_db)
    gate.execute("LOCK TABLE dbos.executors IN EXCLUSIVE MODE")
    started: list = []
    threads = [
        threading.Thread(target=lambda: started.append(start_worker("free", env=env)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    waiting = (
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
        " WHERE c.relname = 'executors' AND NOT l.granted"
    )
    _wait_until(lambda: must(_one(app_db, waiting))[0] == 3, 60, "three registrations waiting")
    gate.rollback()
    gate.close()
    for t in threads:
        t.join(60)
    assert len(started) == 3
    assert _listening_backends(app_db) == 1
    assert len(_listed(app_db, "free")) == 1
    with DBOSClient(app_db) as client:
        handles = [
            client.enqueue({"queue_name": "free", "workflow_name": "timed"}, "free", f"c{i}", 0.0)
            for i in range(12)
        ]
        assert [h.get_result() for h in handles] == [f"c{i}" for i in range(12)]
    assert _listening_backends(app_db) == 1
    assert _one(app_db, "SELECT count(*), count(DISTINCT workflow_id) FROM runs") == (12, 12)
    for w in started:
        assert w.stop()[0] == 0

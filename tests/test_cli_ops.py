"""``dbos-queue`` enqueue / workflow / schedule / bench, run as real subprocesses.

Workflows run in real worker processes of tests/apps/queue_app.py (fixture
``start_worker``): ``three(x)`` records three steps and returns ``[1, 2, 3, x]``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from dbos_queue import DBOSClient
from tests.plugins.checks import must

ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, timeout: float = 100, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dbos_queue.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def cli_ok(*args: str) -> str:
    r = run_cli(*args)
    assert r.returncode == 0, f"{args}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def cli_json(url: str, *args: str):
    return json.loads(cli_ok("--db-url", url, "--json", *args))


def declare_queues(url: str, *names: str) -> None:
    """Queues as a worker that declares them would store them (none runs them here)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for name in names:
            conn.execute(
                "INSERT INTO dbos.queues (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,)
            )


def enqueue_idle(url: str, n: int, queue: str = "idle") -> list[str]:
    """Workflows on a declared queue no worker serves: they stay ENQUEUED."""
    declare_queues(url, queue)
    with DBOSClient(url) as client:
        return client.enqueue_many(
            {"queue_name": queue, "workflow_name": "three"}, [(i,) for i in range(n)]
        )


def statuses(url: str, ids: list[str]) -> list[str | None]:
    with psycopg.connect(url) as conn:
        rows = dict(
            conn.execute(
                "SELECT workflow_uuid, status FROM dbos.workflow_status "
                "WHERE workflow_uuid = ANY(%s)",
                (ids,),
            ).fetchall()
        )
    return [rows.get(i) for i in ids]


# --- without a database -------------------------------------------------------------------


def test_help_documents_exit_codes():
    out = cli_ok("--help")
    for line in (
        "0  ok",
        "1  the operation failed",
        "2  usage or configuration error",
        "3  the database could not be reached",
    ):
        assert line in out
    for cmd in ("enqueue", "workflow", "schedule", "bench"):
        assert cmd in out


def test_shell_completion():
    script = cli_ok("--show-completion", "bash")
    assert "_DBOS_QUEUE_COMPLETE=complete_bash" in script
    assert "complete -o default -F _dbos_queue_completion dbos-queue" in script

    def complete(words: str) -> list[str]:
        env = {
            "_DBOS_QUEUE_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1),
        }
        r = run_cli(env=env)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert complete("dbos-queue workflow li") == ["list"]
    assert complete("dbos-queue workflow list --status SU") == ["SUCCESS"]
    assert "--concurrency" in complete("dbos-queue queue set q --con")


def test_lists_are_rich_tables_on_a_terminal(dbos, db_url):
    from dbos_queue import Queue

    Queue("tabled", concurrency=3)
    enqueue_idle(db_url, 2)
    term = {"TTY_COMPATIBLE": "1", "COLUMNS": "200"}  # Rich: this is a terminal

    def shown(r: subprocess.CompletedProcess) -> list[str]:
        assert r.returncode == 0, r.stderr
        return re.sub(r"\x1b\[[0-9;]*m", "", r.stdout).splitlines()  # text without styles

    lines = shown(run_cli("--db-url", db_url, "queue", "list", env=term))
    assert lines[0].strip() == "queues"  # the table's title
    assert lines[1].split()[:3] == ["NAME", "CONCURRENCY", "WORKER_CONCURRENCY"]
    assert set(lines[2].strip()) <= {"─", " "} and "─" in lines[2]  # Rich's header rule
    assert any(line.split()[:2] == ["tabled", "3"] for line in lines[3:])
    lines = shown(run_cli("--db-url", db_url, "workflow", "list", env=term))
    assert lines[0].strip() == "workflows" and "─" in lines[2]
    assert sum("ENQUEUED" in line for line in lines) == 2
    # In a pipe: the same columns, no title and no rule, one row per line.
    plain = cli_ok("--db-url", db_url, "queue", "list").splitlines()
    assert plain[0].split()[:2] == ["NAME", "CONCURRENCY"] and "─" not in "".join(plain)


def test_progress_bar_forms():
    from rich.console import Console

    from dbos_queue.cli.bars import Bar

    tty = io.StringIO()
    console = Console(file=tty, force_terminal=True, width=100)
    with Bar(10, "cancel", console=console) as bar:
        for _ in range(10):
            bar.advance()
    text = tty.getvalue()
    assert "cancel" in text and "10/10" in text and "100%" in text and "━" in text

    pipe = io.StringIO()
    with Bar(4, "resume", stream=pipe) as bar:
        bar.update(4)
    assert pipe.getvalue().startswith("resume: 4/4 in ") and pipe.getvalue().count("\n") == 1

    off = io.StringIO()
    with Bar(4, "bench", stream=off, enabled=False) as bar:
        bar.update(4)
    assert off.getvalue() == ""


def test_value_helpers():
    from dbos_queue.cli.values import UsageError, jsonable, parse_duration

    assert parse_duration("7d") == 7 * 86400 and parse_duration("90") == 90
    assert parse_duration("30m") == 1800 and parse_duration("500ms") == 0.5
    with pytest.raises(UsageError):
        parse_duration("7x")
    when = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert jsonable(
        {"t": when, "e": ValueError("boom"), "d": Decimal("1.5"), "s": {2, 1}, "tp": (1, b"\x00")}
    ) == {
        "t": "2025-01-02T03:04:05+00:00",
        "e": "ValueError: boom",
        "d": "1.5",
        "s": [1, 2],
        "tp": [1, "AA=="],
    }


@pytest.mark.parametrize(
    "flag,value,reason",
    [
        ("--args", "[1,", "--args is not valid JSON"),
        ("--args", '{"x": 1}', "--args must be a JSON array"),
        ("--kwargs", "[1]", "--kwargs must be a JSON object"),
    ],
)
def test_enqueue_bad_json_is_a_usage_error(db_url, flag, value, reason):
    r = run_cli("--db-url", db_url, "enqueue", "free", "three", flag, value)
    assert r.returncode == 2, r.stderr
    assert reason in r.stderr and r.stdout == ""
    with psycopg.connect(db_url) as conn:
        assert must(conn.execute("SELECT count(*) FROM dbos.workflow_status").fetchone())[0] == 0


def test_bad_filters_are_usage_errors(db_url):
    r = run_cli("--db-url", db_url, "workflow", "list", "--status", "bogus")
    assert r.returncode == 2 and "unknown status 'bogus'" in r.stderr
    r = run_cli("--db-url", db_url, "workflow", "list", "--since", "yesterday")
    assert r.returncode == 2 and "ISO-8601" in r.stderr
    r = run_cli("--db-url", db_url, "workflow", "cancel")
    assert r.returncode == 2 and "name the workflows to cancel" in r.stderr
    r = run_cli("--db-url", db_url, "workflow", "cancel", "a", "--queue", "q")
    assert r.returncode == 2 and "not both" in r.stderr


def test_unmigrated_database_says_to_migrate(empty_db_url):
    r = run_cli("--db-url", empty_db_url, "workflow", "list")
    assert r.returncode == 2 and "dbos-queue migrate" in r.stderr


def test_unreachable_database_exits_3():
    r = run_cli(
        "--db-url",
        "postgresql://nobody@127.0.0.1:9/nothing?connect_timeout=2",
        "workflow",
        "get",
        "x",
    )
    assert r.returncode == 3 and "cannot reach the database" in r.stderr


# --- enqueue ------------------------------------------------------------------------------


def test_enqueue_and_wait_prints_the_result(app_db, start_worker):
    start_worker("free")
    r = run_cli(
        "--db-url", app_db, "enqueue", "free", "three", "--args", "[7]", "--wait", "--timeout", "60"
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [1, 2, 3, 7]

    wf_id = cli_ok(
        "--db-url",
        app_db,
        "enqueue",
        "free",
        "three",
        "--kwargs",
        '{"x": 8}',
        "--id",
        "by-id",
        "--priority",
        "3",
    ).strip()
    assert wf_id == "by-id"
    with DBOSClient(app_db) as client:
        assert client.get_result("by-id", timeout=60) == [1, 2, 3, 8]
    out = cli_json(app_db, "enqueue", "free", "three", "--args", "[9]", "--wait")
    assert out["status"] == "SUCCESS" and out["output"] == [1, 2, 3, 9] and out["workflow_id"]


def test_enqueue_wait_reports_a_failed_workflow(app_db, start_worker):
    # A worker gives up on a workflow no process declares after this long.
    start_worker("free", env={"DBOS_QUEUE_UNKNOWN_WORKFLOW_WAIT_SEC": "0.5"})
    r = run_cli(
        "--db-url",
        app_db,
        "--json",
        "enqueue",
        "free",
        "no_such_workflow",
        "--wait",
        "--timeout",
        "60",
    )
    assert r.returncode == 1
    assert "ended ERROR" in r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "ERROR" and "not found" in out["error"].lower()


def test_enqueue_wait_timeout_and_dedup(db_url):
    r = run_cli("--db-url", db_url, "enqueue", "nowhere", "three")  # a queue no app declares
    assert r.returncode == 1 and "not declared" in r.stderr and r.stdout == ""
    declare_queues(db_url, "idle")
    r = run_cli(
        "--db-url",
        db_url,
        "enqueue",
        "idle",
        "three",
        "--args",
        "[1]",
        "--dedup",
        "d1",
        "--wait",
        "--timeout",
        "0.5",
    )
    assert r.returncode == 1 and "did not finish within 0.5s (status ENQUEUED)" in r.stderr
    r = run_cli("--db-url", db_url, "enqueue", "idle", "three", "--args", "[1]", "--dedup", "d1")
    assert r.returncode == 1 and "deduplication ID d1" in r.stderr
    wf_id = cli_ok("--db-url", db_url, "enqueue", "idle", "three", "--delay", "600").strip()
    assert statuses(db_url, [wf_id]) == ["DELAYED"]


# --- workflow list / get / steps ------------------------------------------------------------


def test_workflow_list_get_steps(app_db, start_worker):
    start_worker("free")
    cli_ok(
        "--db-url",
        app_db,
        "enqueue",
        "free",
        "three",
        "--args",
        "[7]",
        "--id",
        "wf-a",
        "--wait",
        "--timeout",
        "60",
    )
    enqueue_idle(app_db, 2)

    table = cli_ok("--db-url", app_db, "workflow", "list")
    header, *lines = table.splitlines()
    assert header.split()[:4] == ["WORKFLOW_ID", "STATUS", "NAME", "QUEUE"]
    assert len(lines) == 3 and lines[0].split()[:4] == ["wf-a", "SUCCESS", "three", "free"]

    rows = cli_json(
        app_db, "workflow", "list", "--status", "SUCCESS", "--queue", "free", "--name", "three"
    )
    assert [w["workflow_id"] for w in rows] == ["wf-a"]
    assert rows[0]["output"] == [1, 2, 3, 7] and rows[0]["input"] == {"args": [7], "kwargs": {}}
    assert isinstance(rows[0]["created_at"], int)
    assert len(cli_json(app_db, "workflow", "list", "--status", "enqueued,success")) == 3
    assert cli_json(app_db, "workflow", "list", "--status", "ERROR") == []
    assert len(cli_json(app_db, "workflow", "list", "--limit", "2", "--desc")) == 2
    assert len(cli_json(app_db, "workflow", "list", "--limit", "0", "--offset", "1")) == 2
    assert cli_json(app_db, "workflow", "list", "--since", "2999-01-01T00:00:00Z") == []
    # --json also works after the command
    assert (
        json.loads(cli_ok("--db-url", app_db, "workflow", "list", "--queue", "idle", "--json"))[0][
            "status"
        ]
        == "ENQUEUED"
    )

    get = cli_ok("--db-url", app_db, "workflow", "get", "wf-a")
    fields = dict(line.split(None, 1) for line in get.splitlines())
    assert fields["status"] == "SUCCESS" and fields["output"] == "[1, 2, 3, 7]"
    assert fields["queue"] == "free" and fields["error"] == "-"
    got = cli_json(app_db, "workflow", "get", "wf-a")
    assert got["workflow_id"] == "wf-a" and got["output"] == [1, 2, 3, 7] and got["error"] is None

    steps = cli_ok("--db-url", app_db, "workflow", "steps", "wf-a").splitlines()
    assert steps[0].split()[:3] == ["STEP", "NAME", "OUTPUT"]
    assert [s.split()[:3] for s in steps[1:]] == [
        ["1", "mark", "1"],
        ["2", "mark", "2"],
        ["3", "mark", "3"],
    ]
    js = cli_json(app_db, "workflow", "steps", "wf-a")
    assert [(s["function_id"], s["function_name"], s["output"]) for s in js] == [
        (1, "mark", 1),
        (2, "mark", 2),
        (3, "mark", 3),
    ]


def test_unknown_workflow_exits_1(db_url):
    for cmd in (
        ["get", "nosuch"],
        ["steps", "nosuch"],
        ["cancel", "nosuch"],
        ["resume", "nosuch"],
        ["fork", "nosuch", "--step", "1"],
    ):
        r = run_cli("--db-url", db_url, "workflow", *cmd)
        assert r.returncode == 1, (cmd, r.stdout, r.stderr)
        assert "no workflow with id 'nosuch'" in r.stderr, cmd


# --- cancel / resume / fork / gc -----------------------------------------------------------


def test_cancel_single_and_bulk(db_url):
    ids = enqueue_idle(db_url, 6)
    other = enqueue_idle(db_url, 2, queue="other")
    assert cli_ok("--db-url", db_url, "workflow", "cancel", ids[0]).strip() == f"cancelled {ids[0]}"
    assert statuses(db_url, ids[:2]) == ["CANCELLED", "ENQUEUED"]

    again = run_cli("--db-url", db_url, "workflow", "cancel", ids[0])
    assert again.returncode == 0 and "CANCELLED; nothing to do" in again.stdout

    mixed = run_cli("--db-url", db_url, "--json", "workflow", "cancel", ids[1], "ghost")
    assert mixed.returncode == 1 and "no workflow with id 'ghost'" in mixed.stderr
    assert json.loads(mixed.stdout) == {
        "cancelled": [ids[1]],
        "skipped": [],
        "not_found": ["ghost"],
    }

    out = cli_json(db_url, "workflow", "cancel", "--status", "ENQUEUED", "--queue", "idle")
    assert sorted(out["cancelled"]) == sorted(ids[2:]) and out["not_found"] == []
    assert statuses(db_url, ids) == ["CANCELLED"] * 6
    assert statuses(db_url, other) == ["ENQUEUED"] * 2

    # Without --json, and not on a terminal: one progress line on stderr at the end.
    r = run_cli("--db-url", db_url, "workflow", "cancel", "--queue", "other")
    assert r.returncode == 0 and "cancelled 2 workflows" in r.stdout
    assert "cancel: 2/2 in" in r.stderr and "\r" not in r.stderr
    assert statuses(db_url, other) == ["CANCELLED"] * 2


def test_resume_runs_cancelled_workflows(app_db, start_worker):
    ids = enqueue_idle(app_db, 3, queue="free")
    out = cli_json(app_db, "workflow", "cancel", *ids)
    assert sorted(out["cancelled"]) == sorted(ids)
    start_worker("free")
    out = cli_json(app_db, "workflow", "resume", *ids)
    assert out == {"resumed": ids, "skipped": [], "not_found": []}
    with DBOSClient(app_db) as client:
        assert [client.get_result(i, timeout=60) for i in ids] == [[1, 2, 3, i] for i in range(3)]
    # Finished ones are reported and skipped; by filter nothing is left to resume.
    r = run_cli("--db-url", app_db, "workflow", "resume", ids[0])
    assert r.returncode == 0 and "SUCCESS; nothing to do" in r.stdout
    assert cli_json(app_db, "workflow", "resume", "--status", "CANCELLED")["resumed"] == []


def test_bulk_resume_by_filter(app_db, start_worker):
    ids = enqueue_idle(app_db, 4, queue="free")
    cli_json(app_db, "workflow", "cancel", "--queue", "free")
    start_worker("free")
    out = cli_json(app_db, "workflow", "resume", "--status", "CANCELLED", "--queue", "free")
    assert sorted(out["resumed"]) == sorted(ids)
    with DBOSClient(app_db) as client:
        assert sorted(client.get_result(i, timeout=60)[3] for i in ids) == [0, 1, 2, 3]


def test_fork_reruns_from_a_step(app_db, start_worker):
    start_worker("free")
    cli_ok(
        "--db-url",
        app_db,
        "enqueue",
        "free",
        "three",
        "--args",
        "[5]",
        "--id",
        "orig",
        "--wait",
        "--timeout",
        "60",
    )
    out = cli_json(app_db, "workflow", "fork", "orig", "--step", "3", "--id", "forked")
    assert out == {"workflow_id": "forked", "forked_from": "orig", "start_step": 3}
    with DBOSClient(app_db) as client:
        assert client.get_result("forked", timeout=60) == [1, 2, 3, 5]
    with psycopg.connect(app_db) as conn:
        ran = conn.execute("SELECT step FROM step_runs WHERE workflow_id = 'forked'").fetchall()
    assert ran == [(3,)]  # steps 1 and 2 were copied, not re-run
    assert cli_json(app_db, "workflow", "get", "forked")["forked_from"] == "orig"
    plain = cli_ok("--db-url", app_db, "workflow", "fork", "orig").strip()
    with DBOSClient(app_db) as client:
        assert client.get_result(plain, timeout=60) == [1, 2, 3, 5]
    r = run_cli("--db-url", app_db, "workflow", "fork", "orig", "--step", "0")
    assert r.returncode == 2 and "--step counts from 1" in r.stderr


def test_gc(db_url):
    ids = enqueue_idle(db_url, 5)
    cli_json(db_url, "workflow", "cancel", "--queue", "idle")
    live = enqueue_idle(db_url, 1)
    assert cli_json(db_url, "workflow", "gc", "--older-than", "7d") == {"deleted": 0}
    # --keep counts every workflow (the live one too); only finished ones are deleted
    assert cli_json(db_url, "workflow", "gc", "--keep", "2") == {"deleted": 4}
    assert (
        cli_ok("--db-url", db_url, "workflow", "gc", "--older-than", "0").strip()
        == "deleted 1 finished workflow"
    )
    assert statuses(db_url, ids + live) == [None] * 5 + ["ENQUEUED"]
    r = run_cli("--db-url", db_url, "workflow", "gc")
    assert r.returncode == 2 and "--older-than" in r.stderr
    r = run_cli("--db-url", db_url, "workflow", "gc", "--older-than", "7x")
    assert r.returncode == 2 and "duration" in r.stderr


# --- schedule -----------------------------------------------------------------------------


def test_schedule_list_and_delete(dbos, db_url):
    @dbos.workflow()
    def nightly(scheduled_at, context):
        return context

    dbos.create_schedule(
        schedule_name="nightly-report",
        workflow_fn=nightly,
        schedule="0 0 3 * * *",
        context={"team": "ops"},
    )
    rows = cli_json(db_url, "schedule", "list")
    assert [(r["schedule_name"], r["schedule"], r["status"], r["context"]) for r in rows] == [
        ("nightly-report", "0 0 3 * * *", "ACTIVE", {"team": "ops"})
    ]
    assert rows[0]["workflow_name"].endswith("nightly")
    header, line = cli_ok("--db-url", db_url, "schedule", "list").splitlines()
    assert header.split()[:4] == ["NAME", "WORKFLOW", "CRON", "TIMEZONE"]
    assert line.startswith("nightly-report ") and "ACTIVE" in line.split()
    assert len(cli_json(db_url, "schedule", "list", "--prefix", "night", "--status", "active")) == 1
    assert cli_json(db_url, "schedule", "list", "--status", "PAUSED") == []
    assert cli_json(db_url, "schedule", "list", "--kind", "decorator") == []

    assert (
        cli_ok("--db-url", db_url, "schedule", "delete", "nightly-report").strip()
        == "deleted schedule nightly-report"
    )
    assert cli_ok("--db-url", db_url, "schedule", "list").strip() == "(none)"
    r = run_cli("--db-url", db_url, "schedule", "delete", "nightly-report")
    assert r.returncode == 1 and "no schedule named 'nightly-report'" in r.stderr


# --- bench --------------------------------------------------------------------------------


@pytest.mark.slow
def test_bench_small(db_url):
    out = cli_json(db_url, "bench", "--n", "60", "--workers", "2", "--steps", "2")
    assert out["n"] == 60 and out["succeeded"] == 60 and out["failed"] == 0
    assert out["workers"] == 2 and out["workflows_per_second"] > 0
    r = run_cli("--db-url", db_url, "bench", "--n", "20", "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert "workflows/s" in r.stdout and "bench: 20/20 in" in r.stderr
    with psycopg.connect(db_url) as conn:  # the temporary queue and its workflows are gone
        assert must(conn.execute("SELECT count(*) FROM dbos.workflow_status").fetchone())[0] == 0
        assert (
            must(
                conn.execute(
                    "SELECT count(*) FROM dbos.queues WHERE name LIKE 'dbos-queue-bench-%'"
                ).fetchone()
            )[0]
            == 0
        )

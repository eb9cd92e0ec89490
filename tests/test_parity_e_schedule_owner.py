"""DBOS 3.4: schedules have an owning application. A schedule made by DBOS or a
DBOSClient is owned by its application (WorkflowSchedule["application_name"]); a
scheduler fires its own application's schedules and the unclaimed ones, never another
application's; list_schedules shows the caller's by default; a name another
application owns is refused without a write; rename_application moves schedules."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import psycopg
import pytest

from dbos_queue import DBOS, DBOSClient
from dbos_queue.error import DBOSException


def _owner(db_url: str, name: str) -> Any:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT application_name FROM dbos.workflow_schedules WHERE schedule_name = %s",
            (name,),
        ).fetchone()
    return row[0] if row else "missing"


def test_schedules_are_owned_listed_and_fired_by_their_application(
    dbos: type[DBOS], db_url: str
) -> None:
    fired: list[str] = []
    mine_fired = threading.Event()

    @DBOS.workflow()
    def tick(scheduled: datetime, context: Any) -> None:
        fired.append(context)
        if fired.count("mine") >= 3:  # three ticks of each schedule were due by now
            mine_fired.set()

    DBOS.create_schedule(
        schedule_name="mine", workflow_fn=tick, schedule="* * * * * *", context="mine"
    )
    assert _owner(db_url, "mine") == "test-app"
    with DBOSClient(system_database_url=db_url, application_name="other-app") as client:
        client.create_schedule(
            schedule_name="theirs",
            workflow_name=DBOS.list_schedules()[0]["workflow_name"],
            schedule="* * * * * *",
            context="theirs",
        )
        assert [s["schedule_name"] for s in client.list_schedules()] == ["theirs"]
        assert {s["application_name"] for s in client.list_schedules()} == {"other-app"}
    assert _owner(db_url, "theirs") == "other-app"
    assert [s["schedule_name"] for s in DBOS.list_schedules()] == ["mine"]
    assert DBOS.list_schedules()[0]["application_name"] == "test-app"
    assert [s["schedule_name"] for s in DBOS.list_schedules(application_name="other-app")] == [
        "theirs"
    ]
    assert mine_fired.wait(15)
    assert "theirs" not in fired  # this process never fires another application's schedule

    with pytest.raises(DBOSException, match="already registered by another application"):
        DBOS.apply_schedules(
            [
                {"schedule_name": "fresh", "workflow_fn": tick, "schedule": "0 0 * * *"},
                {"schedule_name": "theirs", "workflow_fn": tick, "schedule": "0 0 * * *"},
            ]
        )
    assert _owner(db_url, "fresh") == "missing"  # nothing of the refused batch was written
    assert _owner(db_url, "theirs") == "other-app"

    with DBOSClient(system_database_url=db_url) as client:
        counts = client.rename_application("other-app", "renamed-app")
    assert counts["schedules"] == 1
    assert _owner(db_url, "theirs") == "renamed-app"

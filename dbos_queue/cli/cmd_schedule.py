"""``dbos-queue schedule list|delete``."""

from __future__ import annotations

import enum
import sys
from typing import Annotated

import typer

from dbos_queue.cli.common import (
    EXIT_OK,
    DbUrlOpt,
    JsonOpt,
    client_for,
    fail,
    options,
    print_json,
    table,
)
from dbos_queue.cli.values import jsonable, parse_statuses, short

app = typer.Typer(help="Scheduled workflows.", no_args_is_help=True)


class Kind(enum.StrEnum):
    """Where a schedule comes from."""

    decorator = "decorator"
    api = "api"


COLUMNS = {
    "name": "schedule_name",
    "workflow": "workflow_name",
    "cron": "schedule",
    "timezone": "cron_timezone",
    "status": "status",
    "queue": "queue_name",
    "last_fired_at": "last_fired_at",
    "kind": "kind",
}


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: Annotated[
        list[str] | None,
        typer.Option(metavar="STATUS", help="ACTIVE or PAUSED (repeat, or comma-separate)."),
    ] = None,
    workflow: Annotated[str | None, typer.Option(help="Workflow name.")] = None,
    prefix: Annotated[str | None, typer.Option(help="Schedule name prefix.")] = None,
    kind: Annotated[
        Kind | None,
        typer.Option(help="decorator (@DBOS.scheduled) or api (DBOS.create_schedule)."),
    ] = None,
    json_out: JsonOpt = False,
    db_url: DbUrlOpt = None,
) -> int:
    """The stored schedules."""
    from dbos_queue.queue.schedules import list_schedules

    opts = options(ctx, json_out, db_url)
    filters = {
        key: value
        for key, value in (
            ("status", parse_statuses(status, ("ACTIVE", "PAUSED"))),
            ("workflow_name", workflow),
            ("schedule_name_prefix", prefix),
            ("kind", kind.value if kind else None),
        )
        if value
    }
    with client_for(opts) as client:
        rows = [jsonable(r) for r in client.engine.run(list_schedules(client, **filters))]
    if opts.json:
        print_json(rows)
    else:
        table([{h: short(r.get(k), 60) for h, k in COLUMNS.items()} for r in rows], "schedules")
    return EXIT_OK


@app.command("delete")
def delete_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME")],
    json_out: JsonOpt = False,
    db_url: DbUrlOpt = None,
) -> int:
    """Delete a schedule."""
    from dbos_queue.queue.schedules import delete_schedule, get_schedule

    opts = options(ctx, json_out, db_url)
    with client_for(opts) as client:
        run = client.engine.run
        existing = run(get_schedule(client, name))
        if existing is None or run(delete_schedule(client, name)) is False:
            return fail(f"no schedule named {name!r}")
    if opts.json:
        print_json({"deleted": name})
        return EXIT_OK
    print(f"deleted schedule {name}")
    if existing.get("kind") == "decorator":
        print(
            "note: it is declared with @DBOS.scheduled; a process declaring it "
            "re-creates it when it launches",
            file=sys.stderr,
        )
    return EXIT_OK

"""Durable schedules: ``@DBOS.scheduled`` and ``DBOS.create_schedule`` over one table.

Both spellings are rows of ``dbos.workflow_schedules`` (migration 0005):

* ``@DBOS.scheduled(cron)`` (stacked above or below ``@DBOS.workflow()``) records the
  function here; each launching process upserts a ``kind='decorator'`` row named
  after the workflow. The workflow receives ``(scheduled_time, actual_time)``.
* ``DBOS.create_schedule(schedule_name=, workflow_fn=, schedule=, context=)`` inserts a
  ``kind='api'`` row; the workflow receives ``(scheduled_time, context)``.

``scheduled_time`` is a timezone-aware datetime (UTC, or the schedule's
``cron_timezone``); crons have 6 fields, seconds first (5-field minute crons work too).
A bad cron is refused when declared, with croniter's reason.

**Firing, exactly once.** Every launched process runs one scheduler task on its
engine loop. About once a second (and at each due tick, and at once when a
schedule is created, paused or resumed anywhere: a NOTIFY on the queue channel)
it reads the active schedules and, for each one whose workflow this process has
registered, computes the ticks due after the schedule's *watermark*. It fires
them in one transaction: a conditional UPDATE moves the watermark from the value
it read to the last tick (``_sql.CLAIM_SCHEDULE_TICKS``), then each tick is inserted
ENQUEUED on the schedule's queue (default: the internal queue every process
dequeues) with the deterministic id ``sched-<schedule name>-<ISO time>`` through
the ordinary ``INIT_WORKFLOW`` (idempotent on the id). Concurrent schedulers block
on the row lock and find the watermark moved, so each tick is enqueued once
across the fleet, the watermark never goes backwards, and queue limits apply to
scheduled runs as to any other. Deleting or pausing a schedule takes effect at
once: a tick can only be fired by an UPDATE of an ACTIVE row.

**Missed ticks** (policy). A tick is *missed* when no scheduler could fire it in
time: every process was stopped, or the system database was unreachable.

* Default (skip): a tick is fired only if some process that is still live (holds
  its lease in ``dbos.executors``) had already started when the tick fell due, and
  at most ``MAX_LATE_SEC`` (60 s) late. So after the whole fleet was down, the
  restarted processes fire nothing from before the first of them started, while a
  process joining a live fleet simply continues from the shared watermark. Skipped
  ticks are logged and count as handled (no other process fires them later).
* Catch-up: with config ``schedule_catchup: true`` (all schedules) or
  ``create_schedule(..., automatic_backfill=True)`` (one schedule), every tick
  after the watermark is fired, oldest first, at most ``MAX_TICKS_PER_PASS`` per
  schedule per pass (the rest follow in the next passes).
* A schedule's first watermark is its creation (or first declaration): ticks
  before a schedule existed never fire. ``resume_schedule`` skips the ticks that
  fell due while it was paused.

**Decorated schedules and ``delete_schedule``.** Code is the source of truth for
``@DBOS.scheduled``: only processes whose code declares the decorator fire such a
row (so a removed decorator stops firing once no running process declares it; its
row stays listed until deleted). ``delete_schedule`` on a decorated schedule stops
it at once in every process, and it stays deleted until a process that declares it
launches again: that launch re-creates it with a fresh watermark, so the ticks of
the deleted period are never run, even with catch-up. Pause it instead
(``pause_schedule``) to keep it stopped across restarts: launches do not change a
stored status. An ``api`` schedule with the same name as a decorated workflow wins:
the decorator is then ignored (with an error logged).

``list_schedules``, ``get_schedule``, ``delete_schedule``, ``pause_schedule`` and
``resume_schedule`` take anything with ``.sysdb`` and ``.engine`` (the runtime or a
``DBOSClient``, as the CLI does); ``create_schedule``, ``backfill_schedule`` and
``trigger_schedule`` need the launched runtime (its registry).
"""

from dbos_queue.queue.schedules.crons import check_cron, tick_workflow_id
from dbos_queue.queue.schedules.declare import declarations as _declared  # tests count them
from dbos_queue.queue.schedules.declare import scheduled
from dbos_queue.queue.schedules.manage import (
    backfill_schedule,
    create_schedule,
    delete_schedule,
    get_schedule,
    list_schedules,
    pause_schedule,
    resume_schedule,
    trigger_schedule,
)
from dbos_queue.queue.schedules.scheduler import declared_after_launch, start

__all__ = [
    "_declared",
    "backfill_schedule",
    "check_cron",
    "create_schedule",
    "declared_after_launch",
    "delete_schedule",
    "get_schedule",
    "list_schedules",
    "pause_schedule",
    "resume_schedule",
    "scheduled",
    "start",
    "tick_workflow_id",
    "trigger_schedule",
]

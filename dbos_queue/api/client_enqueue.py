"""``DBOSClient``'s enqueues by workflow name: one, many in one statement, or one in the
caller's own transaction; and the ``EnqueueOptions`` they take.

A producer only needs the queue and workflow names: the parameters of the
``INIT_WORKFLOW`` statement come from the options (``enqueue_params``), a stored
queue's partitioning is checked (its settings cached for 5 s), and the notification
that wakes a worker is sent after the insert, coalesced (db/notify.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, TypedDict

from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.db import sql as _sql
from dbos_queue.db.loop import Engine
from dbos_queue.db.notify import QUEUE_CHANNEL
from dbos_queue.db.sysdb import SystemDatabase, init_workflow_plan, now_ms
from dbos_queue.db.threadconn import ThreadConnections
from dbos_queue.engine import tracing as _tracing
from dbos_queue.engine.context import (
    DuplicationPolicy,
    WorkflowIDReusePolicy,
    check_duplication_policy,
    check_reuse_policy,
)
from dbos_queue.engine.options import attributes_json
from dbos_queue.error import DBOSException
from dbos_queue.model import serialization as ser
from dbos_queue.model.ids import new_workflow_id


class EnqueueOptions(TypedDict, total=False):
    """Where and how to enqueue: ``queue_name`` and ``workflow_name`` are required."""

    queue_name: str
    workflow_name: str
    workflow_id: str
    # On a workflow_id already in use: "return-existing" (default) attaches to it,
    # "reject" raises DBOSWorkflowIDInUseError.
    workflow_id_reuse_policy: WorkflowIDReusePolicy
    workflow_class_name: str
    workflow_config_name: str
    app_version: str
    workflow_timeout: float
    deduplication_id: str
    # On a deduplication_id another workflow of the queue holds: "reject" (default) raises
    # DBOSQueueDeduplicatedError, "return-existing" returns that workflow's handle.
    duplication_policy: DuplicationPolicy
    priority: int
    queue_partition_key: str
    delay_seconds: float
    serialization_type: Any  # WorkflowSerializationFormat: PORTABLE stores plain JSON
    attributes: dict[str, Any]
    # The client-side PropagateOtelContext: the workflow's span joins this context's trace.
    otel_context: Any
    # DBOS 3.4.0's names: the class / configured instance of a method workflow, who it
    # runs as, which application owns it, and its (recorded only) shard key.
    class_name: str
    instance_name: str
    authenticated_user: str
    authenticated_roles: list[str]
    application_name: str | None
    shard_key: str


def _roles_json(roles: Any) -> str | None:
    import json

    return json.dumps(list(roles)) if roles is not None else None


class ClientEnqueue:
    """Mixed into ``DBOSClient``: enqueueing workflows by name."""

    engine: Engine
    sysdb: SystemDatabase
    application_name: str | None
    _queue_rows: dict[str, tuple[float, bool]]  # name -> (when read, partitioned)
    _threads: ThreadConnections

    @staticmethod
    def enqueue_params(
        options: EnqueueOptions, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """The INIT_WORKFLOW parameters of an enqueue by name (checked ``EnqueueOptions``)."""
        for key in ("queue_name", "workflow_name"):
            if not options.get(key):
                raise DBOSException(f"EnqueueOptions needs {key!r}")
        priority = options.get("priority") or 0
        if not _is_int(priority) or not 0 <= priority <= 2**31 - 1:
            raise DBOSException(f"priority must be an integer from 0 to 2**31-1, got {priority!r}")
        delay = options.get("delay_seconds")
        timeout = options.get("workflow_timeout")
        check_reuse_policy(options.get("workflow_id_reuse_policy"))
        check_duplication_policy(
            options.get("duplication_policy"),
            options.get("queue_name"),
            options.get("deduplication_id"),
        )
        now = now_ms()
        return {
            "id": options.get("workflow_id") or new_workflow_id(),
            "status": "DELAYED" if delay else "ENQUEUED",
            "name": options.get("workflow_name"),  # checked above
            "class_name": options.get("class_name") or options.get("workflow_class_name"),
            "config_name": options.get("instance_name") or options.get("workflow_config_name"),
            "user": options.get("authenticated_user"),
            "assumed_role": None,
            "roles": _roles_json(options.get("authenticated_roles")),
            "executor_id": None,
            "app_version": options.get("app_version"),
            "app_id": None,
            "queue": options.get("queue_name"),
            "timeout_ms": int(timeout * 1000) if timeout else None,
            "deadline_ms": None,
            # inputs + serialization (0011): EnqueueOptions["serialization_type"]'s format
            **ser.input_fields(args, kwargs, options.get("serialization_type")),
            "is_debounced": False,
            "debounce_deadline": None,
            "started_ms": None,
            "dedup_id": options.get("deduplication_id"),
            "priority": priority,
            "partition_key": options.get("queue_partition_key"),
            "owner": None,
            "attempts": 0,
            "now": now,
            "delay_until": now + int(delay * 1000) if delay else None,
            "attributes": attributes_json(
                _tracing.with_context(options.get("attributes"), options.get("otel_context"))
            ),
            # 0008: owner (the client's application unless named), shard key (recorded)
            "parent_id": None,
            "app_name": options.get("application_name"),
            "schedule_name": None,
            "shard_key": options.get("shard_key"),
            # DBOS 3.4's policies, applied by db.sysdb.init_workflow_plan
            "reuse_policy": options.get("workflow_id_reuse_policy"),
            "duplication_policy": options.get("duplication_policy"),
            "creator": None,
        }

    _params = enqueue_params  # the name the enqueue paths of this class use

    def _cached_queue_row(self, name: str) -> bool | None:
        """Whether the queue is partitioned, if its stored settings were looked up in the
        last 5 s (they rarely change); None when not looked up lately."""
        cached = self._queue_rows.get(name)
        if cached is not None and time.monotonic() - cached[0] < 5.0:
            return cached[1]
        return None

    async def _check_queue(self, params: dict[str, Any]) -> None:
        """Refuse what a stored queue could never run (partition key rules)."""
        partitioned = self._cached_queue_row(params["queue"])
        if partitioned is None:  # settings rarely change: look them up at most every 5 s
            row = await self.sysdb.fetchone(_sql.GET_QUEUE, (params["queue"],))
            if row is not None:  # an undeclared queue is looked up afresh next time
                from dbos_queue.queue.settings import QueueSettings

                partitioned = QueueSettings.from_row(row).partitioned
                self._queue_rows[params["queue"]] = (time.monotonic(), partitioned)
        self._validate_queue(params, partitioned)

    def _validate_queue(self, params: dict[str, Any], partitioned: bool | None) -> None:
        """``partitioned``: the stored queue's; None when no such queue is stored."""
        if partitioned is None:
            from dbos_queue.model.status import INTERNAL_QUEUE

            if params["queue"] == INTERNAL_QUEUE:
                return
            # Nothing would ever run it: refuse it now rather than leave it ENQUEUED forever.
            from dbos_queue.error import DBOSQueueNotDeclaredError

            raise DBOSQueueNotDeclaredError(params["queue"])
        if partitioned and params["partition_key"] is None:
            raise DBOSException(f"Queue {params['queue']} is partitioned: pass queue_partition_key")
        if not partitioned and params["partition_key"] is not None:
            raise DBOSException(
                f"Queue {params['queue']} is not partitioned; drop queue_partition_key"
            )

    async def store_enqueued(self, params: dict[str, Any]) -> str:
        """Store prepared enqueue parameters (engine loop); the workflow's id."""
        params["app_name"] = params.get("app_name") or getattr(self, "application_name", None)
        await self._check_queue(params)
        res = await self.sysdb.init_workflow(params)
        if res.holder is not None:  # duplication_policy "return-existing"
            return res.holder
        if not res.inserted and res.name != params["name"]:
            from dbos_queue.error import DBOSConflictingWorkflowError

            raise DBOSConflictingWorkflowError(params["id"], f"already exists as {res.name}")
        if res.inserted:  # coalesced, sent after this returns (db/notify.py)
            self.engine.publish("queue", _signal_name(params))
        return params["id"]

    _enqueue = store_enqueued  # its former name

    def enqueue(self, options: EnqueueOptions, *args: Any, **kwargs: Any) -> WorkflowHandle[Any]:
        """Enqueue one workflow by name; returns its handle once it is stored.

        One round trip, from this thread (no hop to the engine loop); the notification
        that wakes a worker is sent after it returns, coalesced (db/notify.py)."""
        params = self._params(options, args, kwargs)
        params["app_name"] = params.get("app_name") or getattr(self, "application_name", None)
        partitioned = self._cached_queue_row(params["queue"])
        if partitioned is None:
            self.engine.run(self._check_queue(params))
        else:
            self._validate_queue(params, partitioned)
        notifier = self.engine.notifier
        name = _signal_name(params)
        direct = None
        if name == params["queue"] and notifier.idle():
            direct = notifier.direct(name)
        # Idle: the NOTIFY rides with the INIT (one round trip, one commit; no other
        # notifying commit to queue behind). Busy: the notifier coalesces it, after.
        also = (_sql.NOTIFY_MANY, direct) if direct else None
        res = self._threads.run(lambda: init_workflow_plan(params), also=also)
        if res.holder is not None:  # duplication_policy "return-existing"
            return WorkflowHandle(self, res.holder)
        if not res.inserted and res.name != params["name"]:
            from dbos_queue.error import DBOSConflictingWorkflowError

            raise DBOSConflictingWorkflowError(params["id"], f"already exists as {res.name}")
        if res.inserted and also is None and notifier.may_claim(params["queue"]):
            notifier.add_threadsafe(QUEUE_CHANNEL, name)  # coalesced; wakes the loop if idle
        return WorkflowHandle(self, params["id"])

    async def enqueue_async(
        self, options: EnqueueOptions, *args: Any, **kwargs: Any
    ) -> WorkflowHandleAsync[Any]:
        """``enqueue`` from async code (the insert runs on the client's engine loop)."""
        wf_id = await self.engine.arun(self.store_enqueued(self._params(options, args, kwargs)))
        return WorkflowHandleAsync(self, wf_id)

    def enqueue_many(
        self, options: EnqueueOptions, arguments: Sequence[Sequence[Any]]
    ) -> list[str]:
        """Enqueue one run per argument tuple, all in one statement; returns the ids."""
        base = self._params(options, (), {})
        if base["dedup_id"] or base["delay_until"]:
            raise DBOSException("enqueue_many does not take deduplication_id or delay_seconds")
        self.engine.run(self._check_queue(base))
        inputs = ser.serialize_many_args(arguments)  # ids are made by the statement
        params = {
            "name": base["name"],
            "class_name": base["class_name"],
            "config_name": base["config_name"],
            "queue": base["queue"],
            "priority": base["priority"],
            "partition_key": base["partition_key"],
            "app_version": base["app_version"],
            "timeout_ms": base["timeout_ms"],
            "now": base["now"],
            "inputs": inputs,
        }
        if not inputs:
            return []
        row = self.engine.run(self.sysdb.fetchone(_sql.ENQUEUE_MANY, params))
        ids: list[str] = list(row.ids) if row is not None else []
        self.engine.publish_threadsafe("queue", base["queue"], len(ids))
        return ids

    def enqueue_in_transaction(
        self, conn_or_session: Any, options: EnqueueOptions, *args: Any, **kwargs: Any
    ) -> str:
        """Enqueue inside the caller's own transaction (a psycopg connection, or an SQLAlchemy
        Connection or Session on the system database): it commits or rolls back with it."""
        from dbos_queue.api.client_messages import caller_cursor
        from dbos_queue.db.sysdb import INIT_OPTIONAL, InitResult
        from dbos_queue.error import DBOSQueueDeduplicatedError, DBOSWorkflowIDInUseError

        if options.get("duplication_policy") == "return-existing":
            # Attaching retries the insert, which the caller's transaction cannot survive.
            raise DBOSException(
                "duplication_policy 'return-existing' is not supported by "
                "enqueue_in_transaction. Use enqueue instead."
            )
        params = self._params(options, args, kwargs)
        params["app_name"] = params.get("app_name") or self.application_name
        for key in INIT_OPTIONAL:
            params.setdefault(key, None)
        self.engine.run(self._check_queue(params))
        cur = caller_cursor(conn_or_session)
        cur.execute(_sql.INIT_WORKFLOW, params)
        row = cur.fetchone()
        if row is None:
            if params["dedup_id"] is not None:
                raise DBOSQueueDeduplicatedError(params["id"], params["queue"], params["dedup_id"])
            raise DBOSException(f"workflow id {params['id']} is being inserted concurrently")
        res = InitResult(*row)  # by position: the cursor may be another driver's
        if not res.inserted and params["reuse_policy"] == "reject":
            raise DBOSWorkflowIDInUseError(params["id"], res.status or "", res.name or "")
        cur.execute(_sql.NOTIFY_QUEUE, (params["queue"],))  # delivered at commit
        return params["id"]


def _is_int(value: object) -> bool:
    """Whether an option given as anything is an int."""
    return isinstance(value, int)


def _signal_name(params: dict[str, Any]) -> str:
    """What a stored workflow announces: its queue, or (DELAYED) the workers' timers."""
    if params.get("delay_until"):
        from dbos_queue.queue.wakeup import DELAYED_SIGNAL

        return DELAYED_SIGNAL
    return str(params["queue"])

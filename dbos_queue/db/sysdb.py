"""Typed coroutines over the system database, one per statement in ``_sql``.

Each runs on the engine loop. Connection-class failures (a dropped connection,
a restarting server) are retried with backoff; everything else propagates
(db/runner.py). ``SystemDatabase`` holds the workflow and step writes (batched: many
workflows' writes in one statement); its executor statements are in db/leases.py,
its messages, events and streams in db/messaging.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, NamedTuple

from dbos_queue.db import sql as _sql
from dbos_queue.db.batcher import Batcher
from dbos_queue.db.leases import ExecutorStatements
from dbos_queue.db.loop import Engine
from dbos_queue.db.messaging import NULL_TOPIC, MessageStatements, Refused
from dbos_queue.db.runner import now_ms, retryable
from dbos_queue.model.records import Row
from dbos_queue.model.status import TERMINAL_STATUSES

# Names other modules import from here.
__all__ = [
    "INIT_OPTIONAL",
    "NULL_TOPIC",
    "TERMINAL",
    "InitResult",
    "RecordedOp",
    "Refused",
    "Row",
    "SystemDatabase",
    "init_workflow_plan",
    "now_ms",
    "retryable",
]

# INIT_WORKFLOW parameters that default to NULL (parent, owner, attributes, schedule, key,
# creator token).
INIT_OPTIONAL = ("parent_id", "app_name", "attributes", "schedule_name", "shard_key", "creator")
TERMINAL = TERMINAL_STATUSES  # the statuses a workflow never leaves


class RecordedOp(NamedTuple):
    """One recorded step of a workflow, as a replay reads it (``load_operations``)."""

    function_name: str | None
    output: str | None
    error: str | None
    child_workflow_id: str | None


@dataclass
class InitResult:
    """What an INIT did: inserted a new row, or found this workflow's existing one."""

    inserted: bool
    status: str | None = None
    name: str | None = None
    owner: str | None = None
    output: str | None = None
    error: str | None = None
    queue_name: str | None = None
    # duplication_policy "return-existing": the workflow holding the deduplication id,
    # attached to instead of inserting this one (nothing was written)
    holder: str | None = None


def init_workflow_plan(params: dict[str, Any]) -> Generator[tuple[str, Any], Any, InitResult]:
    """The statements of an INIT, as a generator: it yields (query, parameters) and is sent
    each one's row, so an async caller (the engine) and a sync one (a client's own thread,
    db/threadconn.py) run the same logic. Rows are read by position: the sync caller's
    are plain tuples."""
    for key in INIT_OPTIONAL:  # 0008 columns a producer may not set
        params.setdefault(key, None)
    for key in ("serialization", "debounce_deadline"):  # 0011 columns, unset by most starts
        params.setdefault(key, None)
    params.setdefault("is_debounced", False)
    # DBOS 3.4's policies (engine/context.py): on an id in use, and on a deduplication id
    # held by another workflow of the queue.
    reject = params.get("reuse_policy") == "reject"
    if reject and not params.get("creator"):
        params["creator"] = str(uuid.uuid4())  # kept in params: a replanned retry reuses it
    for _ in range(5):
        row = yield _sql.INIT_WORKFLOW, params
        if row is not None:
            res = InitResult(*row)
            if not res.inserted and params.get("owner") and res.owner == params["owner"]:
                # Our own insert, retried after its reply was lost: we own it.
                return InitResult(True)
            if not res.inserted and reject:
                made = yield _sql.WORKFLOW_CREATOR, (params["id"],)
                if made is None or made[0] != params["creator"]:  # (creator_xid,)
                    from dbos_queue.error import DBOSWorkflowIDInUseError

                    raise DBOSWorkflowIDInUseError(params["id"], res.status or "", res.name or "")
                return InitResult(True)  # our own insert, retried
            return res
        if params.get("dedup_id") is not None:
            holder = yield _sql.DEDUP_HOLDER, (params["queue"], params["dedup_id"])
            if holder is not None:
                if params.get("duplication_policy") == "return-existing":
                    return InitResult(False, holder=holder[0])  # (workflow_uuid,)
                from dbos_queue.error import DBOSQueueDeduplicatedError

                raise DBOSQueueDeduplicatedError(params["id"], params["queue"], params["dedup_id"])
            # The holder released the id since the insert collided: insert again.
    raise RuntimeError(f"could not insert or read workflow {params['id']}")


def _completion(
    wf_id: str, owner: str, status: str, output: str | None, error: str | None
) -> dict[str, Any]:
    """One fenced completion for the completions batcher (COMPLETE_WORKFLOWS' columns)."""
    return {
        "id": wf_id,
        "owner": owner,
        "status": status,
        "output": output,
        "error": error,
        "now": now_ms(),
    }


class SystemDatabase(ExecutorStatements, MessageStatements):
    """The system database operations of one process."""

    def __init__(self, engine: Engine, *, retry_for_sec: float = 60.0) -> None:
        super().__init__(engine, retry_for_sec=retry_for_sec)
        self._records = Batcher(engine, self._flush_records)
        self._completions = Batcher(engine, self._flush_completions)
        self._tails = Batcher(engine, self._flush_tails)  # last step + completion together

    # --- workflows ---------------------------------------------------------------

    async def init_workflow(self, params: dict[str, Any]) -> InitResult:
        """Insert a workflow's row, or read the existing one (``init_workflow_plan``)."""
        plan = init_workflow_plan(params)
        row: Any = None
        try:
            while True:
                query, args = plan.send(row)
                row = await self.fetchone(query, args)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def takeover(self, wf_id: str, owner: str, executor_id: str) -> Row | None:
        """Own a PENDING workflow whose owner's process is dead (or us); None when refused."""
        return await self.fetchone(
            _sql.TAKEOVER_WORKFLOW,
            {"id": wf_id, "owner": owner, "executor_id": executor_id, "now": now_ms()},
        )

    async def recoverable(
        self, executor_ids: list[str], app_version: str | None = None, app_name: str | None = None
    ) -> list[str]:
        """PENDING workflows of dead processes of these executors that this version runs."""
        params = {
            "executor_ids": list(executor_ids),
            "app_version": app_version,
            "app_name": app_name,
        }
        rows = await self.fetchall(_sql.RECOVERABLE_FOR_EXECUTOR, params)
        return [r.workflow_uuid for r in rows]

    async def mark_max_recovery(self, wf_id: str, owner: str) -> None:
        """Dead-letter a workflow that exceeded its recovery attempts (fenced by ``owner``)."""
        await self.execute(_sql.MARK_MAX_RECOVERY, {"id": wf_id, "owner": owner, "now": now_ms()})

    async def complete(
        self, wf_id: str, owner: str, status: str, output: str | None, error: str | None
    ) -> bool:
        """Fenced final status (batched with other workflows finishing at the same time)."""
        item = _completion(wf_id, owner, status, output, error)
        return await self._completions.submit(item, wf_id)  # "wf" published by the flush

    def complete_blocking(
        self, wf_id: str, owner: str, status: str, output: str | None, error: str | None
    ) -> bool:
        """``complete`` for a workflow thread (not the engine loop)."""
        item = _completion(wf_id, owner, status, output, error)
        return self._completions.submit_blocking(item, wf_id)

    def complete_nowait(
        self,
        wf_id: str,
        owner: str,
        status: str,
        output: str | None,
        error: str | None,
        done: Callable[[bool, BaseException | None], None],
    ) -> None:
        """``complete`` without waiting (from any thread): ``done(accepted, error)`` runs
        on the engine loop once it is written. For executions nobody waits for; a drain
        waits for these with :meth:`writes_settled` before it hands anything back."""
        item = _completion(wf_id, owner, status, output, error)
        self._completions.submit_nowait(item, wf_id, done)

    async def writes_settled(self, timeout: float = 30.0) -> bool:
        """Wait until every checkpoint and completion submitted so far is written."""
        a = await self._records.settle(timeout)
        b = await self._tails.settle(timeout)
        return await self._completions.settle(timeout) and a and b

    def complete_with_record(
        self,
        record: dict[str, Any],
        status: str,
        output: str | None,
        error: str | None,
        done: Callable[[bool, BaseException | None], None] | None = None,
    ) -> bool:
        """Record a workflow's last step (``record``: ``operation_params``) and complete it
        in one statement (engine/tail.py). From a workflow thread: with ``done``, without
        waiting (``done`` runs on the loop once written); else blocks, returns accepted."""
        item = {
            "record": record,
            "status": status,
            "output": output,
            "error": error,
            "now": now_ms(),
        }
        if done is not None:
            self._tails.submit_nowait(item, record["id"], done)
            return True
        return self._tails.submit_blocking(item, record["id"])

    async def _flush_tails(self, items: list[dict[str, Any]]) -> set[str]:
        recs = [i["record"] for i in items]
        params = {
            "ids": [r["id"] for r in recs],
            "owners": [r["owner"] for r in recs],
            "fids": [r["fid"] for r in recs],
            "fnames": [r["fname"] for r in recs],
            "step_outputs": [r["output"] for r in recs],
            "starteds": [r["started"] for r in recs],
            "step_nows": [r["now"] for r in recs],
            "statuses": [i["status"] for i in items],
            "outputs": [i["output"] for i in items],
            "errors": [i["error"] for i in items],
            "nows": [i["now"] for i in items],
        }
        rows = await self.fetchall(_sql.RECORD_AND_COMPLETE_WORKFLOWS, params)
        accepted: set[str] = {r.workflow_uuid for r in rows}
        for wf_id in accepted:
            self.engine.publish("wf", wf_id)
        return accepted

    async def _flush_completions(self, items: list[dict[str, Any]]) -> set[str]:
        accepted = await self._write_completions(items)
        for wf_id in accepted:  # on the loop, once durable: local waiters, remote ones
            self.engine.publish("wf", wf_id)
        return accepted

    async def _write_completions(self, items: list[dict[str, Any]]) -> set[str]:
        params = {
            "ids": [i["id"] for i in items],
            "owners": [i["owner"] for i in items],
            "statuses": [i["status"] for i in items],
            "outputs": [i["output"] for i in items],
            "errors": [i["error"] for i in items],
            "nows": [i["now"] for i in items],
        }
        return {r.workflow_uuid for r in await self.fetchall(_sql.COMPLETE_WORKFLOWS, params)}

    async def cancel_owned(self, wf_id: str, owner: str) -> None:
        """Mark a workflow this owner runs as CANCELLED (fenced by ``owner``)."""
        await self.execute(_sql.CANCEL_OWNED, {"id": wf_id, "owner": owner, "now": now_ms()})

    async def fence_state(self, wf_id: str) -> Row | None:
        """The row fields that decide whether an owner may still write for a workflow."""
        return await self.fetchone(_sql.FENCE_STATE, (wf_id,))

    async def get_status_row(self, wf_id: str) -> Row | None:
        """A workflow's status row in ``_sql.STATUS_COLUMNS`` order, or None."""
        return await self.fetchone(_sql.GET_STATUS, (wf_id,))

    async def get_result_row(self, wf_id: str) -> Row | None:
        """A workflow's status, output and error, or None when there is no such row."""
        return await self.fetchone(_sql.GET_RESULT, (wf_id,))

    # --- operations ----------------------------------------------------------------

    async def load_operations(self, wf_id: str) -> dict[int, RecordedOp]:
        """A workflow's recorded steps by function id, for replay."""
        rows = await self.fetchall(_sql.LOAD_OPERATIONS, (wf_id,))
        return {
            r.function_id: RecordedOp(r.function_name, r.output, r.error, r.child_workflow_id)
            for r in rows
        }

    @staticmethod
    def operation_params(
        wf_id: str,
        owner: str,
        fid: int,
        fname: str,
        output: str | None = None,
        error: str | None = None,
        child: str | None = None,
        started: int | None = None,
    ) -> dict[str, Any]:
        """The parameters of one step record (RECORD_OPERATION), stamped now."""
        return {
            "id": wf_id,
            "owner": owner,
            "fid": fid,
            "fname": fname,
            "output": output,
            "error": error,
            "child": child,
            "started": started,
            "now": now_ms(),
        }

    async def record_operation(self, params: dict[str, Any]) -> bool:
        """Fenced insert of one operation result; False when the write was refused.

        Batched with other workflows' records written at the same moment.
        """
        return await self._records.submit(params, (params["id"], params["fid"]))

    def record_operation_blocking(self, params: dict[str, Any]) -> bool:
        """``record_operation`` for a workflow thread (not the engine loop)."""
        return self._records.submit_blocking(params, (params["id"], params["fid"]))

    async def _flush_records(self, items: list[dict[str, Any]]) -> set[tuple[str, int]]:
        params = {
            "ids": [i["id"] for i in items],
            "owners": [i["owner"] for i in items],
            "fids": [i["fid"] for i in items],
            "fnames": [i["fname"] for i in items],
            "outputs": [i["output"] for i in items],
            "errors": [i["error"] for i in items],
            "children": [i["child"] for i in items],
            "starteds": [i["started"] for i in items],
            "nows": [i["now"] for i in items],
        }
        rows = await self.fetchall(_sql.RECORD_OPERATIONS, params)
        return {(r.workflow_uuid, r.function_id) for r in rows}

    async def list_steps(self, wf_id: str) -> list[Row]:
        """A workflow's steps in ``_sql.LIST_STEPS`` order (see ``model.status.step_dict``)."""
        return await self.fetchall(_sql.LIST_STEPS, (wf_id,))

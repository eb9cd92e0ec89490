"""Start options of DBOS 3.4.0 beyond id/timeout/enqueue: attributes and shard keys,
and the attempt counter a running step reports through ``DBOS.step_status``.

Like DBOS, the values of a ``with SetWorkflowAttributes(...)`` / ``with SetShardKey(...)``
block apply to every workflow started or enqueued *by the code in the block*, not to
the children those workflows start: each value remembers the workflow (or None, top
level) whose code entered the block, and a start elsewhere ignores it.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any, Self, cast

from dbos_queue.engine.context import VarBlock, current_workflow
from dbos_queue.error import DBOSException

next_attributes: contextvars.ContextVar[tuple[dict[str, Any] | None, str | None] | None] = (
    contextvars.ContextVar("dbos_queue_next_attributes", default=None)
)
next_shard_key: contextvars.ContextVar[tuple[str, str | None] | None] = contextvars.ContextVar(
    "dbos_queue_next_shard_key", default=None
)
# (attempt from 0, max attempts) of the retried step running here; None without retries.
step_attempt: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "dbos_queue_step_attempt", default=None
)


class StopRetries(Exception):  # a signal between step wrapper and runner
    """``should_retry`` answered no: end the attempts and record ``original``."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


def _here() -> str | None:
    ctx = current_workflow.get()
    return ctx.workflow_id if ctx is not None else None


def _applies(value: tuple[Any, str | None] | None) -> bool:
    return value is not None and value[1] == _here()


def validate_attributes(attributes: Any) -> None:
    """Raise unless ``attributes`` is None or a JSON-serializable dict (as DBOS)."""
    if attributes is None:
        return
    if not isinstance(attributes, dict):
        raise DBOSException(
            f"Invalid workflow attributes {attributes!r}. Attributes must be a dict."
        )
    try:
        json.dumps(attributes)
    except (TypeError, ValueError) as exc:
        raise DBOSException(
            f"Invalid workflow attributes {attributes!r}. Attributes must be JSON-serializable."
        ) from exc


def attributes_json(attributes: dict[str, Any] | None) -> str | None:
    """The ``attributes`` column value (jsonb text), validated."""
    validate_attributes(attributes)
    return json.dumps(attributes) if attributes is not None else None


def pending_attributes() -> dict[str, Any] | None:
    """The attributes a workflow started here now gets (SetWorkflowAttributes)."""
    value = next_attributes.get()
    return value[0] if _applies(value) else None  # type: ignore[index]


def pending_shard_key() -> str | None:
    """The shard key a workflow started here now gets (SetShardKey)."""
    value = next_shard_key.get()
    return value[0] if _applies(value) else None  # type: ignore[index]


class _ScopedBlock(VarBlock):
    """A block whose value is tagged with the workflow whose code entered it."""

    def __enter__(self) -> Self:
        self._token = self._var.set((self._value, _here()))
        return self


class SetWorkflowAttributes(_ScopedBlock):
    """Workflows started or enqueued in the block get these attributes (a JSON dict).

    Not inherited by their children; change them later with
    ``DBOS.update_workflow_attributes`` and filter with ``list_workflows(attributes=)``.
    """

    _var = next_attributes

    def __init__(self, attributes: dict[str, Any] | None) -> None:
        validate_attributes(attributes)
        super().__init__(attributes)


class SetShardKey(_ScopedBlock):
    """Workflows started or enqueued in the block record this shard key.

    The system database is not sharded: the key labels the rows
    (``WorkflowStatus.shard_key``, ``list_workflows(shard_key=)``) and routes nothing.
    """

    _var = next_shard_key

    def __init__(self, shard_key: str) -> None:
        # callers may not type-check
        if not isinstance(cast(object, shard_key), str) or not shard_key:
            raise ValueError("shard_key must be a non-empty string")
        super().__init__(shard_key)

"""Errors of steps, streams and patches: retries, timeouts and nondeterminism."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dbos_queue.error.base import DBOSErrorCode, DBOSException


class DBOSMaxStepRetriesExceeded(DBOSException):
    """A step failed on every allowed attempt; ``errors`` holds each attempt's error."""

    def __init__(
        self, step_name: str, max_retries: int, errors: Sequence[BaseException] | None = None
    ):
        self.step_name = step_name
        self.max_retries = max_retries
        self.errors = list(errors or [])
        super().__init__(
            f"Step {step_name} has exceeded its maximum of {max_retries} retries",
            DBOSErrorCode.MaxStepRetriesExceeded.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_retries,
            (type(self), self.step_name, self.max_retries, self.message),
        )


def _rebuild_retries(
    cls: type[DBOSMaxStepRetriesExceeded], step_name: str, max_retries: int, message: str
) -> DBOSMaxStepRetriesExceeded:
    exc = cls.__new__(cls)
    exc.step_name, exc.max_retries, exc.errors = step_name, max_retries, []
    exc.message, exc.dbos_error_code = message, DBOSErrorCode.MaxStepRetriesExceeded.value
    exc.args = (message,)
    return exc


# For the package; pickles name it dbos_queue.error._rebuild_retries.
rebuild_retries = _rebuild_retries


class DBOSUnexpectedStepError(DBOSException):
    """A replay reached a step recorded under another function's name: nondeterminism."""

    def __init__(self, workflow_id: str, step_id: int, expected_name: str, recorded_name: str):
        super().__init__(
            f"During execution of workflow {workflow_id} step {step_id}, function "
            f"{recorded_name} was recorded when {expected_name} was expected. Check that "
            "your workflow is deterministic.",
            DBOSErrorCode.UnexpectedStep.value,
        )


class DBOSStepTimeoutError(DBOSException):
    """An async step ran longer than its ``timeout_seconds`` and was cancelled."""

    def __init__(self, step_name: str, timeout_seconds: float):
        self.step_name = step_name
        self.timeout_seconds = timeout_seconds
        super().__init__(
            f"Step {step_name} was cancelled after exceeding its timeout of "
            f"{timeout_seconds} seconds",
            DBOSErrorCode.StepTimeout.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.step_name, self.timeout_seconds))


class DBOSStepNondeterminismError(DBOSException):
    """One execution recorded the same step id twice with different results."""

    def __init__(self, workflow_id: str, step_id: int):
        self.inputs = (workflow_id, step_id)
        super().__init__(
            f"Step {step_id} of workflow {workflow_id} was recorded twice by the same "
            "execution with different results. Check that your workflow is deterministic.",
            DBOSErrorCode.StepNondeterminism.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self.inputs)


class DBOSPatchNondeterminismError(DBOSException):
    """``DBOS.patch_async`` raced other operations of its workflow, so where its marker
    lands (and so which branch a replay takes) would depend on task scheduling."""

    def __init__(self, workflow_id: str, patch_name: str, details: str):
        self.inputs = (workflow_id, patch_name, details)
        super().__init__(
            f"Cannot deterministically apply patch {patch_name} in workflow {workflow_id}: "
            f"{details}. Check that your workflow is deterministic.",
            DBOSErrorCode.PatchNondeterminism.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self.inputs)


class DBOSStreamTimeoutError(DBOSException):
    """No value arrived on a stream in time (or the stream ended before the offset)."""

    def __init__(self, workflow_id: str, key: str, timeout_seconds: float | None = None):
        self.workflow_id = workflow_id
        self.key = key
        self.timeout_seconds = timeout_seconds
        # No timeout: the stream ended without reaching the value, so none ever will.
        within = f" within {timeout_seconds} seconds" if timeout_seconds is not None else ""
        super().__init__(
            f"No value arrived on stream {key} of workflow {workflow_id}{within}",
            DBOSErrorCode.StreamTimeout.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.workflow_id, self.key, self.timeout_seconds))


class DBOSStreamNondeterminismError(DBOSException):
    """Two stream reads of one workflow ran at once: which records which value would
    depend on scheduling."""

    def __init__(self, workflow_id: str, key: str):
        self.workflow_id = workflow_id
        self.key = key
        super().__init__(
            f"Cannot deterministically read stream {key} in workflow {workflow_id}: another "
            "stream read in the same workflow is still in progress. Read streams from "
            "sequential workflow code, or from a step.",
            DBOSErrorCode.StreamNondeterminism.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.workflow_id, self.key))

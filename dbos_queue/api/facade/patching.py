"""The ``DBOS`` facade: workflow patching (``DBOS.patch``, ``DBOS.deprecate_patch``)."""

from __future__ import annotations

from dbos_queue.api.invoke import require_runtime
from dbos_queue.engine import patching as _patching


class Patching:
    """``DBOS`` class methods: change workflow code without breaking recorded executions.

    ``if DBOS.patch("name"): new() else: old()`` sends executions recorded before the
    patch down ``old()`` on recovery and every other execution down ``new()``. Once no
    pre-patch execution is left, ``DBOS.deprecate_patch("name")`` keeps replaying the
    executions that recorded the patch and records nothing new; then drop it.
    """

    @classmethod
    def patch(cls, patch_name: str) -> bool:
        """True when this execution takes the patched code path (from a workflow only)."""
        return _patching.patch(require_runtime(), patch_name)

    @classmethod
    async def patch_async(cls, patch_name: str) -> bool:
        """``patch`` for async workflows (call it from sequential workflow code)."""
        return await _patching.patch_async(require_runtime(), patch_name)

    @classmethod
    def deprecate_patch(cls, patch_name: str) -> bool:
        """Always True; replays the patch's marker where an execution recorded one."""
        return _patching.deprecate_patch(require_runtime(), patch_name)

    @classmethod
    async def deprecate_patch_async(cls, patch_name: str) -> bool:
        """``deprecate_patch`` for async workflows."""
        return await _patching.deprecate_patch_async(require_runtime(), patch_name)

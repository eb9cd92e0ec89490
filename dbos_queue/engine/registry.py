"""What the application registered: workflow functions, classes, configured instances."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class FunctionInfo:
    """A decorated function as the engine sees it."""

    name: str
    func: Callable[..., Any]  # the user's original function
    wrapper: Callable[..., Any] | None = None  # what the decorator returned
    kind: str = "workflow"  # workflow | step | transaction
    is_async: bool = False
    required_roles: list[str] | None = None
    max_recovery_attempts: int | None = None
    method: str | None = None  # "instance" | "class" when first arg is self/cls
    # @DBOS.workflow(serialization_type=, validate_args=): the inputs' format, and a
    # callable (args, kwargs) -> (args, kwargs) run on inputs read back from a row.
    serialization_type: Any = None
    validate_args: (
        Callable[[tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]]] | None
    ) = None


class DeclarationListener(Protocol):
    """What a launched process hears when code declares something after launch."""

    def queue_declared(self, queue: Any) -> None:
        """A queue was declared after launch: store its settings now."""
        ...

    def schedules_changed(self) -> None:
        """A schedule was declared after launch: the scheduler re-reads them."""
        ...


@dataclass
class Registry:
    """Everything the application declared, and the launched process that serves it.

    ``process`` is attached by the composition root (``DBOS.launch``) and detached by
    ``DBOS.destroy``; declarations made after launch reach it through ``declare_queue``
    and ``schedules_changed`` instead of through a module global.
    """

    workflows: dict[str, FunctionInfo] = field(default_factory=dict[str, FunctionInfo])
    classes: dict[str, type] = field(default_factory=dict[str, type])
    instances: dict[tuple[str, str], Any] = field(default_factory=dict[tuple[str, str], Any])
    queues: dict[str, Any] = field(default_factory=dict[str, Any])
    process: DeclarationListener | None = None

    def attach(self, process: DeclarationListener) -> None:
        """Route later declarations to the launched process (done by launch)."""
        self.process = process

    def detach(self) -> None:
        """Stop routing declarations (done by destroy)."""
        self.process = None

    def declare_queue(self, queue: Any) -> None:
        """Record a queue; a launched process stores its settings at once (a refused
        store leaves the earlier declaration in place)."""
        previous = self.queues.get(queue.name)
        self.queues[queue.name] = queue
        if self.process is not None:
            try:
                self.process.queue_declared(queue)
            except BaseException:
                if previous is None:
                    del self.queues[queue.name]
                else:
                    self.queues[queue.name] = previous
                raise

    def schedules_changed(self) -> None:
        """Tell a launched process that the declared schedules changed."""
        if self.process is not None:
            self.process.schedules_changed()

    def clear(self) -> None:
        """Forget every declaration (destroy with destroy_registry=True)."""
        self.workflows.clear()
        self.classes.clear()
        self.instances.clear()
        self.queues.clear()


registry = Registry()


def method_kind(func: Callable[..., Any]) -> str | None:
    """Whether ``func`` (defined in a class body) takes ``self`` or ``cls`` first."""
    parts = func.__qualname__.split(".")
    if len(parts) < 2 or parts[-2] == "<locals>":
        return None
    params = list(inspect.signature(func).parameters)
    if params and params[0] == "self":
        return "instance"
    if params and params[0] == "cls":
        return "class"
    return None


def class_name_of(func: Callable[..., Any]) -> str | None:
    """The name of the class whose body defines ``func``, None for a plain function."""
    parts = func.__qualname__.split(".")
    if len(parts) >= 2 and parts[-2] != "<locals>":
        return parts[-2]
    return None

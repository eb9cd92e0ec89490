"""What the application registered: workflow functions, classes, configured instances."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple


@dataclass
class FunctionInfo:
    """A decorated function as the engine sees it."""

    name: str
    func: Callable[..., Any]  # the user's original function
    wrapper: Callable[..., Any] | None = None  # what the decorator returned
    kind: str = "workflow"  # workflow | step | transaction
    is_async: bool = False
    required_roles: Optional[List[str]] = None
    max_recovery_attempts: Optional[int] = None
    method: Optional[str] = None  # "instance" | "class" when first arg is self/cls


@dataclass
class Registry:
    workflows: Dict[str, FunctionInfo] = field(default_factory=dict)
    classes: Dict[str, type] = field(default_factory=dict)
    instances: Dict[Tuple[str, str], Any] = field(default_factory=dict)
    queues: Dict[str, Any] = field(default_factory=dict)

    def clear(self) -> None:
        self.workflows.clear()
        self.classes.clear()
        self.instances.clear()
        self.queues.clear()


registry = Registry()


def method_kind(func: Callable[..., Any]) -> Optional[str]:
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


def class_name_of(func: Callable[..., Any]) -> Optional[str]:
    parts = func.__qualname__.split(".")
    if len(parts) >= 2 and parts[-2] != "<locals>":
        return parts[-2]
    return None

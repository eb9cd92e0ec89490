"""Fixtures that configure and launch DBOS on the test's own database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dbos_queue import DBOS


@pytest.fixture
def config(db_url: str) -> dict[str, Any]:
    return {"name": "test-app", "system_database_url": db_url, "executor_lease_sec": 3.0}


@pytest.fixture
def dbos(config: dict[str, Any]) -> Iterator[type[DBOS]]:
    """A launched DBOS; decorate functions inside the test (before or after launch)."""
    DBOS.destroy(destroy_registry=True)
    DBOS(config=config)
    DBOS.launch()
    yield DBOS
    DBOS.destroy(destroy_registry=True)


@pytest.fixture
def configured(config: dict[str, Any]) -> Iterator[Callable[[], None]]:
    """DBOS configured but not launched; call the returned function to launch."""
    DBOS.destroy(destroy_registry=True)
    DBOS(config=config)
    yield DBOS.launch
    DBOS.destroy(destroy_registry=True)

"""Small assertion helpers shared by the tests.

``must`` turns an Optional the test expects to be there (a status row, a fetched row) into
its value, failing with what was missing instead of an AttributeError or TypeError on None;
it also tells the type checker the value is present.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def must(value: T | None, what: str = "a value") -> T:
    """Return ``value``; fail the test if it is None."""
    assert value is not None, f"expected {what}, got None"
    return value

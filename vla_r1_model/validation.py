"""The value checks every config dataclass runs in ``__post_init__``, in one place.

Each raises ``ValueError`` naming the field (``name``) and the value it got, with one wording per
rule, so the node parameters, the grounding, task, planner and controller configs refuse a bad value
in the same words. Standard library only: any package may import it (docs/architecture.md).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def is_number(value: Any) -> bool:
    """A real number (int or float, numpy's included), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def finite_number(name: str, value: Any, minimum: float | None = None, strict: bool = False) -> float:
    """``value`` as a float: a finite real number (not a bool), at least ``minimum`` (above it when
    ``strict``) when one is given."""
    if not is_number(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value}")
    return value


def positive_number(name: str, value: Any) -> float:
    """``value`` as a float: a finite real number > 0 (not a bool)."""
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def non_negative_number(name: str, value: Any) -> float:
    """``value`` as a float: a finite real number >= 0 (not a bool)."""
    if not is_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def integer_at_least(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int: an integer (numpy's included, not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def one_of(name: str, value: T, choices: Sequence[Any]) -> T:
    """``value`` itself when it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def non_empty_text(name: str, value: Any, what: str = "string") -> str:
    """``value`` when it is a string with something besides whitespace; ``what`` names the kind
    (``"topic name"``, ``"name"``) in the message."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty {what}, got {value!r}")
    return value

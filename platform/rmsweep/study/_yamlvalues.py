"""What a YAML value in a spec means: numbers PyYAML reads as text, types, durations."""

from __future__ import annotations

import re
from typing import Any

# YAML 1.1 (PyYAML) reads 1e-4 as text: a number needs a dot there (1.0e-4). Fixed up below.
_EXPONENT_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def as_number(value: Any) -> Any:
    """``"1e-4"`` → ``0.0001``: what the author of a YAML spec meant; anything else unchanged."""
    if isinstance(value, str) and _EXPONENT_NUMBER.match(value.strip()):
        return float(value)
    return value


def is_type(value: Any, kind: type | tuple[type, ...]) -> bool:
    """``isinstance`` where a bool is not an int and an int is a float."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, kinds)


def parse_duration(value: Any) -> float | None:
    """Seconds from ``90``, ``90s``, ``20m`` or ``2h``; None when it is not one of those."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        return None
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]

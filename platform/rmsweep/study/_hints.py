"""How a spec problem is worded: close-match hints and type names (a leaf: no study imports)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any

# Reports one problem: (path of keys in the YAML, where as the author reads it, message).
Problem = Callable[[tuple[str | int, ...], str, str], None]


def did_you_mean(word: Any, options: Iterable[Any]) -> str:
    """`` (did you mean 'x'?)`` for the option closest to ``word``; empty when none is close."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def type_name(kind: type | tuple[type, ...]) -> str:
    """``int`` or ``int or float``: the expected type as a message names it."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)

"""Hydra override values: Python values written in Hydra's override grammar.

Every place that builds ``key=value`` overrides (a study's trials, its base, veRL's
``main_ppo`` command line) quotes values here, so a string such as ``1e-3`` or ``a b`` reaches
the config as the value it was.
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"^[\w./\-:@]+$")


def hydra_value(value: object) -> str:
    """A Python value written in Hydra's override grammar (strings quoted where needed)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    text = str(value)
    if _PLAIN.match(text) and text not in ("null", "true", "false") and not _numeric(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

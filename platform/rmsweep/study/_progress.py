"""A study's progress on a terminal: one live table instead of scrolling lines.

``LiveTable`` is the controller's ``echo``: while the study runs it shows ``status_table``
(trial, state, step/total, current objective, params, elapsed, best so far), refreshed from
the Optuna storage, with the latest few progress lines under it. Before and after, lines
print as usual. Piped or in CI the CLI passes a plain ``echo`` instead.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from rich.console import Console, RenderableType

    from rmsweep.study._spec import Objective

RECENT_LINES = 5
REFRESH_PER_S = 2


class LiveTable:
    """An ``echo`` that becomes a live table while :meth:`showing` a study.

    Args:
        console: where to draw (a terminal).
    """

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console

        self.console = console or Console()
        self.recent: collections.deque[str] = collections.deque(maxlen=RECENT_LINES)
        self._study: optuna.Study | None = None
        self._objectives: Sequence[Objective] = ()
        self._table: Any = None

    def __call__(self, line: str) -> None:
        if self._study is None:
            self.console.print(line, highlight=False, soft_wrap=True)
        else:
            self.recent.append(line)

    @contextlib.contextmanager
    def showing(self, study: optuna.Study, objectives: Sequence[Objective]) -> Iterator[None]:
        """Draw the live table of ``study`` until the block ends (its last state stays)."""
        from rich.live import Live

        self._study, self._objectives = study, objectives
        try:
            with Live(
                get_renderable=self.render,
                console=self.console,
                refresh_per_second=REFRESH_PER_S,
                redirect_stderr=False,
            ):
                yield
        finally:
            self._study = None
            self.recent.clear()

    def render(self) -> RenderableType:
        """The table and the latest lines (what the terminal shows now)."""
        from rich.console import Group
        from rich.text import Text

        from rmsweep.study._report import status_table

        if self._study is None:
            return Text("")
        try:
            self._table = status_table(self._study, self._objectives)
        except Exception:  # a storage hiccup: keep showing the last table, retry next refresh
            pass
        lines = [Text(line, style="dim", overflow="ellipsis", no_wrap=True) for line in self.recent]
        return Group(*([self._table] if self._table is not None else []), *lines)

"""Load YAML and remember the line of every key, so spec problems can name ``file:line``."""

from __future__ import annotations

from typing import Any

import yaml

from rmsweep.errors import SpecError

Path_ = tuple[str | int, ...]


class LocatedYaml:
    """A parsed YAML document plus the 1-based line of each mapping key and list item.

    Args:
        data: the document as plain Python values (``yaml.safe_load``).
        lines: ``(key, subkey, index, …)`` → line where that key (or list item) starts.
    """

    def __init__(self, data: Any, lines: dict[Path_, int]) -> None:
        self.data = data
        self.lines = lines

    def line(self, *path: str | int) -> int:
        """The line of ``path``, else of its nearest recorded parent, else 1."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return 1


class Problems:
    """Every problem found in one spec, each ``file:line: where: what``; call it to add one.

    Args:
        doc: the parsed spec (it knows each key's line).
        source: the file name the messages start with.
    """

    def __init__(self, doc: LocatedYaml, source: str) -> None:
        self.doc = doc
        self.source = source
        self._found: list[tuple[int, str]] = []

    def __call__(self, path: Path_, where: str, message: str) -> None:
        line = self.doc.line(*path)
        self._found.append((line, f"{self.source}:{line}: {where}: {message}"))

    def __bool__(self) -> bool:
        return bool(self._found)

    def report(self) -> str:
        """One message per line in line order, after a count when there are several."""
        messages = [text for _, text in sorted(self._found, key=lambda found: found[0])]
        if len(messages) > 1:
            messages.insert(0, f"{self.source}: {len(messages)} problems")
        return "\n".join(messages)


def load_located(text: str, source: str) -> LocatedYaml:
    """Parse ``text``; raise SpecError naming ``source:line`` when it is not valid YAML."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{source}:{line}: not valid YAML: {problem}") from None
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return LocatedYaml(data, lines)


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            child = (*path, key)
            lines.setdefault(child, key_node.start_mark.line + 1)
            _walk(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines.setdefault(child, item.start_mark.line + 1)
            _walk(item, child, lines)

"""RMB (Zhou-Zoey/RMB-Reward-Model-Benchmark, ``RMB_dataset/``): loading and its accuracies.

PATH is the RMB root (holding ``Pairwise_set/`` and/or ``BoN_set/``), or a folder or ``.json``
file under one of them. ``Pairwise_set`` rows (``pair_uid``, ``conversation_input``, ``chosen``,
``reject``) are one comparison each. ``BoN_set`` rows (``bon_uid``, ``conversation_input``,
``bon_best``, ``loser_list``) are one comparison per loser, and the row counts as correct only
when every one of them is fully correct (1.0): a pairwise 0.5, right in one order only, fails
the row, as in RM-R1's RMB BoN script (eval/scripts/run_rm_bestofn.py). Pairwise rows count
their comparison's correctness (0, 0.5 or 1).

Accuracies are the mean over rows: per file (``rmb.<path under the root>.acc``) and pooled per
section folder (``rmb.<Pairwise_set|BoN_set>/<Helpfulness|Harmlessness>.acc``), as RMB's
``my_run_rm.py`` pools every pair under the folder it is given; ``rmb.acc`` is the mean of the
sections present (RM-R1's "Accuracy Averaged from Four Sections").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rmsweep.errors import DataError
from rmsweep.evaluation._files import Row, check_limit, check_unique, read_rows
from rmsweep.evaluation._items import Comparison, Outcome
from rmsweep.evaluation._rates import check_lengths, mean, prefixed, rates

BENCH = "rmb"
PAIRWISE, BON = "Pairwise_set", "BoN_set"
SETS = (PAIRWISE, BON)


def load(path: Path, limit: int | None = None) -> list[Comparison]:
    """Comparisons from every ``.json`` file found (Pairwise_set first, then by path)."""
    check_limit(limit)
    root, files = _locate(path)
    comparisons: list[Comparison] = []
    seen: dict[str, str] = {}
    rows = 0
    for file in files:
        rel = file.relative_to(root)
        for row in read_rows(file, rel.as_posix()):
            comparisons.extend(_comparisons(row, rel, seen))
            rows += 1
            if limit is not None and rows >= limit:
                return comparisons
    return comparisons


def _locate(path: Path) -> tuple[Path, list[Path]]:
    path = path.resolve()
    if not path.exists():
        raise DataError(f"no such file or folder: {path}")
    if path.is_dir() and any((path / s).is_dir() for s in SETS):
        root, tops = path, [path / s for s in SETS if (path / s).is_dir()]
    else:
        inside = [k for k, part in enumerate(path.parts) if part in SETS]
        if not inside:
            raise DataError(
                f"{path}: not an RMB folder: expected Pairwise_set/ or BoN_set/ in it, "
                "or a folder or .json file under one of them"
            )
        root, tops = Path(*path.parts[: inside[-1]]), [path]
    if path.is_file() and path.suffix != ".json":
        raise DataError(f"{path}: not a .json file (RMB files are JSON arrays)")
    files = [f for top in tops for f in ([top] if top.is_file() else top.rglob("*.json"))]
    files = [f for f in files if f.is_file()]
    if not files:
        raise DataError(f"{path}: no RMB .json files here")
    return root, sorted(files, key=lambda f: (SETS.index(f.relative_to(root).parts[0]), str(f)))


def _comparisons(row: Row, rel: Path, seen: dict[str, str]) -> list[Comparison]:
    group = rel.with_suffix("").as_posix()
    kind = rel.parts[0]
    uid_key = "pair_uid" if kind == PAIRWISE else "bon_uid"
    item_id = f"{kind}:{row.ident(uid_key)}"  # pair and BoN uids overlap; each set's are unique
    check_unique(row, uid_key, item_id, seen)
    prompt = _prompt(row)
    if kind == PAIRWISE:
        pairs = [
            (_answer(row, "chosen", row.get("chosen")), _answer(row, "reject", row.get("reject")))
        ]
    else:
        best = _answer(row, "bon_best", row.get("bon_best"))
        losers = row.get("loser_list")
        if not isinstance(losers, list) or not losers:
            raise row.fail("loser_list", "expected a non-empty list of responses")
        pairs = [(best, _answer(row, f"loser_list[{k}]", v)) for k, v in enumerate(losers)]
    return [
        Comparison(BENCH, item_id, prompt, chosen, rejected, group, source=row.source)
        for chosen, rejected in pairs
    ]


def _answer(row: Row, label: str, value: Any) -> str:
    if not isinstance(value, dict):
        raise row.fail(label, "expected an object with an 'answer'")
    return row.expect_text(f"{label}.answer", value.get("answer"))


def _prompt(row: Row) -> str:
    """One user turn as its content; longer conversations as "User: …\\n\\nAssistant: …"."""
    turns = row.get("conversation_input")
    if not isinstance(turns, list) or not turns:
        raise row.fail("conversation_input", "expected a non-empty list of turns")
    parsed = []
    for k, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise row.fail(f"conversation_input[{k}]", "expected an object with role and content")
        role = row.expect_text(f"conversation_input[{k}].role", turn.get("role"))
        parsed.append(
            (role, row.expect_text(f"conversation_input[{k}].content", turn.get("content")))
        )
    if len(parsed) == 1 and parsed[0][0] == "user":
        return parsed[0][1]
    return "\n\n".join(f"{role.capitalize()}: {content}" for role, content in parsed)


def score(comparisons: Sequence[Comparison], outcomes: Sequence[Outcome]) -> dict[str, float]:
    """``rmb.<file>.{acc,n}``, ``rmb.<set>/<goal>.{acc,n}``, ``rmb.acc`` and the rates."""
    check_lengths(comparisons, outcomes)
    items: dict[str, list[float]] = defaultdict(list)
    group_of: dict[str, str] = {}
    n_file: dict[str, int] = defaultdict(int)
    n_section: dict[str, int] = defaultdict(int)
    for c, o in zip(comparisons, outcomes, strict=True):
        items[c.item_id].append(o.correct)
        group_of[c.item_id] = c.group
        n_file[c.group] += 1
        n_section[section(c.group)] += 1
    by_file: dict[str, list[float]] = defaultdict(list)
    for item_id, values in items.items():
        by_file[group_of[item_id]].append(item_correct(group_of[item_id], values))
    by_section: dict[str, list[float]] = defaultdict(list)
    out: dict[str, float] = {}
    for group in sorted(by_file):
        by_section[section(group)].extend(by_file[group])
        out[f"{BENCH}.{group}.acc"] = mean(by_file[group])
        out[f"{BENCH}.{group}.n"] = float(n_file[group])
    for name in sorted(by_section):
        out[f"{BENCH}.{name}.acc"] = mean(by_section[name])
        out[f"{BENCH}.{name}.n"] = float(n_section[name])
    if by_section:
        out[f"{BENCH}.acc"] = mean([out[f"{BENCH}.{name}.acc"] for name in by_section])
    out.update(prefixed(BENCH, rates(outcomes)))
    return out


def section(group: str) -> str:
    """``Pairwise_set/Helpfulness/Chat/Discussion`` -> ``Pairwise_set/Helpfulness``."""
    return "/".join(group.split("/")[:2])


def item_correct(group: str, values: list[float]) -> float:
    """A BoN row is 1.0 only when the best beat every loser fully; a pair keeps its value."""
    if group.split("/")[0] == BON:
        return float(all(v == 1.0 for v in values))
    return mean(values)

"""Synthetic HelpSteer2-shaped data (NOT real judgments) with a learnable labelling rule.

For demos and tests on a machine with no network, and small enough that a tiny model can
learn it (a 347k-parameter model learned this rule with GRPO in a feasibility run).

The rule:
- prompt: "<verb> the <noun>." from 4 verbs x 12 nouns; a fixed 6 of those 48 prompts are
  held out for validation, so no prompt is in both splits.
- response: 4–7 filler words (from 16) plus exactly one keyword at a random position, then ".".
- score: fixed by the keyword alone, 3 keywords per score (15 in all)::

      0 awful broken wrong | 1 poor weak vague | 2 fine okay plain
      3 good clear solid   | 4 great superb perfect

- labels are uniform: exactly ``n // 5`` or ``n // 5 + 1`` records per score.
- HelpSteer2 attributes: helpfulness, correctness, coherence and complexity are the keyword's
  score; verbosity is the number of filler words minus 3 (1–4), a second learnable rule.
- pairwise: two responses to one prompt with different keyword scores; the higher is chosen
  (the 10 score pairs equally often).

Everything is drawn from ``random.Random`` seeded with a string of (seed, split), so the same
seed gives the same records on every machine. Changing the rule: bump ``_cache.FORMAT_VERSION``
(synthetic data has no source file whose content would change the cache key).
"""

from __future__ import annotations

import itertools
import random

from rmsweep.data._helpsteer2 import to_point
from rmsweep.data._records import BadRows, PairItem, PointItem

KEYWORDS = {
    0: ("awful", "broken", "wrong"),
    1: ("poor", "weak", "vague"),
    2: ("fine", "okay", "plain"),
    3: ("good", "clear", "solid"),
    4: ("great", "superb", "perfect"),
}
FILLER = (
    "the", "reply", "is", "quite", "very", "and", "so", "it",
    "this", "text", "answer", "seems", "looks", "here", "all", "now",
)  # fmt: skip
VERBS = ("Describe", "Review", "Explain", "Summarize")
NOUNS = (
    "river", "garden", "city", "market", "forest", "castle",
    "harbor", "desert", "island", "valley", "bridge", "library",
)  # fmt: skip
PROMPTS = tuple(f"{v} the {n}." for v, n in itertools.product(VERBS, NOUNS))
VAL_PROMPTS = PROMPTS[7::8]  # 6 held-out prompts
TRAIN_PROMPTS = tuple(p for p in PROMPTS if p not in VAL_PROMPTS)
SCORE_PAIRS = tuple(itertools.combinations(sorted(KEYWORDS), 2))  # (lower, higher)


def keyword_score(response: str) -> int | None:
    """The rule itself: the score of the one keyword in ``response`` (None if not exactly one)."""
    words = response.rstrip(".").split()
    found = [s for s, kws in KEYWORDS.items() for w in words if w in kws]
    return found[0] if len(found) == 1 else None


def _response(rng: random.Random, score: int) -> tuple[str, int]:
    words = [rng.choice(FILLER) for _ in range(rng.randint(4, 7))]
    n_filler = len(words)
    words.insert(rng.randint(0, n_filler), rng.choice(KEYWORDS[score]))
    return " ".join(words) + ".", n_filler


def _balanced(rng: random.Random, n: int, k: int) -> list[int]:
    labels = [i % k for i in range(n)]
    rng.shuffle(labels)
    return labels


def helpsteer2_rows(n: int, seed: int, split: str) -> list[dict[str, object]]:
    """``n`` HelpSteer2-shaped records for ``split`` ("train" or "val")."""
    rng = random.Random(f"rmsweep-synthetic:{seed}:{split}")
    pool = VAL_PROMPTS if split == "val" else TRAIN_PROMPTS
    rows = []
    for i, score in enumerate(_balanced(rng, n, len(KEYWORDS))):
        response, n_filler = _response(rng, score)
        rows.append(
            {
                "prompt": rng.choice(pool),
                "response": response,
                "helpfulness": score,
                "correctness": score,
                "coherence": score,
                "complexity": score,
                "verbosity": n_filler - 3,
                "source_index": i,
            }
        )
    return rows


def points(n: int, seed: int, split: str, attribute: str) -> list[PointItem]:
    """Pointwise items scored on ``attribute`` (see the rule above)."""
    bad = BadRows(strict=True)  # our own rows: any failure is a bug, so fail loudly
    rows = helpsteer2_rows(n, seed, split)
    items = [
        to_point(f"synthetic:{split}:{i}", r, attribute, bad, True) for i, r in enumerate(rows)
    ]
    return [item for item in items if item is not None]


def pairs(n: int, seed: int, split: str) -> list[PairItem]:
    """Pairwise items: the response with the higher keyword score is chosen."""
    rng = random.Random(f"rmsweep-synthetic-pairs:{seed}:{split}")
    pool = VAL_PROMPTS if split == "val" else TRAIN_PROMPTS
    items = []
    for i, k in enumerate(_balanced(rng, n, len(SCORE_PAIRS))):
        lo, hi = SCORE_PAIRS[k]
        items.append(
            PairItem(
                prompt=rng.choice(pool),
                chosen=_response(rng, hi)[0],
                rejected=_response(rng, lo)[0],
                origin=f"synthetic:{split}:{i}",
                score_chosen=float(hi),
                score_rejected=float(lo),
                source_index=i,
                synthetic=True,
            )
        )
    return items


# RM-Bench's three styles (concise, detailed, detailed+markdown) on the synthetic rule: the
# fewest filler words, the most, and the most with the keyword in markdown bold.
RMBENCH_STYLES = ("concise", "detailed", "detailed+markdown")
RMBENCH_DOMAIN = "synthetic"


def _styled(rng: random.Random, score: int, style: int) -> str:
    words = [rng.choice(FILLER) for _ in range(4 if style == 0 else 7)]
    keyword = rng.choice(KEYWORDS[score])
    words.insert(rng.randint(0, len(words)), f"**{keyword}**" if style == 2 else keyword)
    return " ".join(words) + "."


def rmbench_rows(n: int, seed: int = 0) -> list[dict[str, object]]:
    """``n`` rows in RM-Bench's layout (SYNTHETIC, the keyword rule; held-out prompts only).

    Each row: a prompt, three chosen and three rejected responses in the three styles; the
    chosen keyword scores higher than the rejected one (the 10 score pairs equally often).
    The concise chosen response is shorter than the detailed rejected one: a length-biased
    judge fails RM-Bench's "hard" cells here as it does on the real benchmark.
    """
    rng = random.Random(f"rmsweep-synthetic-rmbench:{seed}")
    rows = []
    for i, k in enumerate(_balanced(rng, n, len(SCORE_PAIRS))):
        lo, hi = SCORE_PAIRS[k]
        rows.append(
            {
                "id": i,
                "prompt": rng.choice(VAL_PROMPTS),
                "chosen": [_styled(rng, hi, s) for s in range(len(RMBENCH_STYLES))],
                "rejected": [_styled(rng, lo, s) for s in range(len(RMBENCH_STYLES))],
                "domain": RMBENCH_DOMAIN,
                "subset": "synthetic-keyword-rule",
            }
        )
    return rows

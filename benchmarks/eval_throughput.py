"""Benchmark judging throughput: batched generation against one judgment at a time, one run.

The tiny model's shape (untrained: what it answers does not matter here, only the cost of
asking it) judges the shipped synthetic RM-Bench set pointwise with greedy decoding: every
distinct (prompt, response) once, ``--batch`` at a time through the left-padded
``generate_batch`` that the hf rollout uses, then the same prompts one by one. The two must
produce identical text; the figure is judgments per second and their ratio.

Run: .venv/bin/python benchmarks/eval_throughput.py [--rows 30] [--batch 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rmsweep.evaluation import EvalSettings, ModelSpec, load_benchmark
from rmsweep.evaluation._model_judge import ModelJudge
from rmsweep.templates import load_template
from rmsweep.tiny_model import save_untrained

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "evalsets" / "synthetic-rmbench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30, help="benchmark rows (6 responses each)")
    parser.add_argument("--batch", type=int, default=32, help="generations per batch")
    parser.add_argument("--max-new-tokens", type=int, default=10)
    args = parser.parse_args()

    comparisons = load_benchmark("rmbench", BENCH, args.rows)
    pairs = list(dict.fromkeys((c.prompt, r) for c in comparisons for r in (c.chosen, c.rejected)))
    records = [{"prompt": p, "response": r} for p, r in pairs]
    with tempfile.TemporaryDirectory() as tmp:
        texts = [f"{p} {r} <score>3</score>" for p, r in pairs]
        model = ModelSpec.from_path(save_untrained(Path(tmp) / "model", texts))
        timings = {}
        outputs = {}
        for label, batch in (("batched", args.batch), ("one at a time", 1)):
            settings = EvalSettings(
                benches={},
                template=load_template("pointwise_plain"),
                batch_size=batch,
                max_new_tokens=args.max_new_tokens,
            )
            judge = ModelJudge(model, settings)
            judge.generate(records[:2])  # warm-up: first-call allocations
            started = time.perf_counter()
            outputs[label] = judge.generate(records)
            timings[label] = time.perf_counter() - started
    same = outputs["batched"] == outputs["one at a time"]
    print(f"{len(records)} judgments (greedy, {args.max_new_tokens} new tokens at most)")
    for label, seconds in timings.items():
        print(f"  {label:>14}: {len(records) / seconds:8.1f} judgments/s ({seconds:.2f} s)")
    ratio = timings["one at a time"] / timings["batched"]
    print(f"batched / one at a time: {ratio:.1f}x; identical outputs: {same}")
    if not same:
        raise SystemExit("batched and one-at-a-time judgments differ")


if __name__ == "__main__":
    main()

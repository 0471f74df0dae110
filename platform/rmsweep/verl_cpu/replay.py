"""A veRL replay buffer for small, reproducible CPU runs.

veRL's v1 trainer (sync mode) waits for a batch by sleeping ``poll_interval`` (2 s, not
configurable) between checks, so every step and every validation of a tiny CPU job costs at
least 2 s; this subclass polls every 50 ms. It also hands out each batch in a fixed order
(prompt submission order, then sample, then turn) instead of rollout completion order,
so that a seeded rerun sums its losses in the same order and trains to the same weights.

It is plugged in through veRL's own hook, ``trainer.v1.sampler.custom_sampler.{path,name}``.
veRL hands a custom sampler only the basic arguments, so DAPO group filtering
(``algorithm.filter_groups``) is not available with it; it is for ``trainer.v1.trainer_mode=sync``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

POLL_INTERVAL_S = 0.05


class FastPollReplayBuffer(ReplayBuffer):
    """veRL's sync replay buffer with a short poll interval and a stable batch order.

    ``trainer.v1.sampler.sampler_kwargs.poll_interval`` overrides the interval (seconds).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        sampler_kwargs = kwargs.get("sampler_kwargs") or {}
        kwargs.setdefault(
            "poll_interval", float(sampler_kwargs.get("poll_interval", POLL_INTERVAL_S))
        )
        super().__init__(*args, **kwargs)

    def _materialize_batch(
        self,
        partition_id: str,
        selected_prompt_uids: list[str],
        partition_snapshot: dict[str, dict[str, Any]],
    ) -> Any:
        # Prompt keys are random uuids, but TransferQueue lists them in submission order.
        submitted = {uid: i for i, uid in enumerate(self.prompt_global_steps[partition_id])}
        batch = super()._materialize_batch(partition_id, selected_prompt_uids, partition_snapshot)

        def rank(key: str) -> tuple[int, ...]:
            # Trajectory keys read "{uid}_{session}_{turn}".
            uid, *rest = key.split("_")
            return (submitted.get(uid, len(submitted)), *(int(p) for p in rest if p.isdigit()))

        order = sorted(range(len(batch.keys)), key=lambda i: rank(batch.keys[i]))
        return dataclasses.replace(
            batch, keys=[batch.keys[i] for i in order], tags=[batch.tags[i] for i in order]
        )

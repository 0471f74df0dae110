"""veRL's single-turn agent loop, naming each sample to the hf server so its seed is stable.

The hf server seeds every sampled request from the rollout seed, the weight version, the
prompt and this sample id (dataset ``extra_info.index`` and the sample's number within its
GRPO group). Without it, requests with identical prompt text are told apart by arrival
order only, which changes between runs. Listed for veRL in ``agent_loops.yaml``.
"""

from __future__ import annotations

from typing import Any

from verl.experimental.agent_loop.single_turn_agent_loop import SingleTurnAgentLoop

from rmsweep.verl_cpu.rollout_server import SAMPLE_ID_KEY

AGENT_NAME = "hf_seeded_single_turn"


class SeededSingleTurnAgentLoop(SingleTurnAgentLoop):
    """:class:`SingleTurnAgentLoop` that adds ``rmsweep_sample_id`` to its sampling params."""

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> Any:
        index, session = kwargs.get("index"), kwargs.get("session_id")
        if index is not None and session is not None:
            sampling_params = {**sampling_params, SAMPLE_ID_KEY: f"{index}/{session}"}
        return await super().run(sampling_params, **kwargs)

"""RM-R1's two stages across hosts that share no disk (rmsweep.testing.cluster): `run sft`
launched on h1 trains on h2, then GRPO with `model.from_run` trains on h3, fetching the SFT
run's model from that run's artifact (not uploaded a second time). Needs root."""

from __future__ import annotations

import json
import re

import pytest
from integration.test_sft_cpu import made_up_traces
from integration.test_two_stages import GRPO, SFT

from rmsweep.testing.cluster import Cluster, Hosts

pytestmark = pytest.mark.cluster

FACTS = """
    import json
    from mlflow import MlflowClient
    client = MlflowClient()
    runs = {{name: client.get_run(rid) for name, rid in {runs!r}.items()}}
    print(json.dumps({{
        name: {{
            "state": run.data.tags.get("rmsweep.state"),
            "node": run.data.tags.get("rmsweep.node"),
            "parent": run.data.tags.get("rmsweep.parent_stage"),
            "inputs": sorted(a.path for a in client.list_artifacts(run.info.run_id, "inputs")),
            "checkpoint": [a.path for a in client.list_artifacts(run.info.run_id, "checkpoint")],
        }} for name, run in runs.items()
    }}))
"""


def _run_id(stdout: str) -> str:
    (run_id,) = re.findall(r"^run ([0-9a-f]{32}): complete", stdout, re.M)
    return str(run_id)


def test_sft_on_one_host_then_grpo_from_its_run_on_the_other(
    cluster: Cluster, hosts: Hosts
) -> None:
    h2, h3 = cluster.worker_hosts[:2]
    traces = "".join(json.dumps(row) + "\n" for row in made_up_traces(40))  # made up
    hosts.python("h1", f"open('/tmp/traces.jsonl', 'w').write({traces!r})")
    data = ["data.path=/tmp/traces.jsonl", "data.task=pairwise", "data.n_val=6"]
    data += ["template=pairwise_verdict", "cluster=ray"]
    keep = [s for s in SFT if not s.startswith("checkpoint.")]  # the model as an artifact
    sft = hosts.rmsweep(
        "h1", "run", "sft", "data=traces_pairwise", *data, *keep,
        f"cluster.resources={{host_{h2.name}:1}}",
    )  # fmt: skip
    sft_id = _run_id(sft.stdout)
    grpo = hosts.rmsweep(
        "h1", "run", "train", f"model.from_run={sft_id}", "data.source=pairs",
        "data.name=pairs", *data, *GRPO, f"cluster.resources={{host_{h3.name}:1}}",
    )  # fmt: skip
    grpo_id = _run_id(grpo.stdout)
    out = hosts.python("h1", FACTS.format(runs={"sft": sft_id, "grpo": grpo_id}))
    facts = json.loads(out.splitlines()[-1])
    assert facts["sft"]["state"] == facts["grpo"]["state"] == "complete"
    assert (facts["sft"]["node"], facts["grpo"]["node"]) == (h2.ip, h3.ip)
    assert facts["grpo"]["parent"] == sft_id
    assert "inputs/model" not in facts["grpo"]["inputs"]  # read from the SFT run's checkpoint
    assert "inputs/train.parquet" in facts["grpo"]["inputs"]
    for stage in ("sft", "grpo"):
        assert "checkpoint/config.json" in facts[stage]["checkpoint"], facts[stage]

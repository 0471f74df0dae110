"""The Ray job of one run: veRL training, then the trained model's export and evaluation.

``python -m rmsweep.job '<JobSpec as JSON>'`` runs veRL's trainer (``verl.trainer.main_ppo``
for GRPO, ``verl.trainer.sft_trainer`` for SFT) as a child process (Ray stops the job and its
children together), moves the saved model out as a Hugging Face folder
(``rmsweep.checkpoint``), and, when the config names benchmarks, judges that model on them on
the job's own resources, logging ``eval/…`` metrics into the run (``MLFLOW_RUN_ID``). A
failure in either step fails the job, with the reason on the run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from rmsweep.verl import JobSpec

PRIVATE_RAY = "++ray_kwargs.ray_init.address=local"  # rmsweep.verl_cpu.cpu_overrides


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m rmsweep.job '<JobSpec JSON>'", file=sys.stderr)
        return 2
    fields = json.loads(args[0])
    code = check_code()
    if code != 0:
        return code
    if "main_ppo" in fields:  # a spec written before SFT stages (a job queued across an upgrade)
        fields["trainer_args"] = fields.pop("main_ppo")
    if fields.get("fetch"):  # shipped: this host cannot see the submitting machine's disk
        from rmsweep.shipping import localize, run_dir

        job_dir = run_dir(Path.cwd(), os.environ["MLFLOW_RUN_ID"])
        try:
            code = fetch_inputs(fields["fetch"], job_dir)
            if code != 0:
                return code
            return run(JobSpec(**localize(fields, Path.cwd(), job_dir)))
        finally:  # the trained model is an artifact by now; the upload is shared
            shutil.rmtree(job_dir, ignore_errors=True)
    return run(JobSpec(**fields))


def check_code() -> int:
    """The code this job runs is the code its run recorded (``rmsweep.digest.code``): a node
    with another rmsweep (a package installed there, a stale shared checkout) fails in one
    line, the reason on the run."""
    run_id, uri = os.environ.get("MLFLOW_RUN_ID"), os.environ.get("MLFLOW_TRACKING_URI")
    if not run_id or not uri:
        return 0
    from rmsweep import names
    from rmsweep.tracking import code_digest, tracking_client

    client = tracking_client(uri)
    recorded = client.get_run(run_id).data.tags.get(names.DIGEST_TAG_PREFIX + "code")
    here = code_digest()
    if recorded in (None, here):
        return 0
    import rmsweep

    reason = (
        f"the code on this node ({Path(rmsweep.__file__).parent}, rmsweep.digest.code "
        f"{here[:12]}…) is not the code the run recorded ({recorded[:12]}…): give every node "
        "the controller's code, or let the job ship it (cluster=ray without cluster.shared_dir)"
    )
    client.set_tag(run_id, names.TAG_REASON, reason)
    print(f"rmsweep: {reason}", file=sys.stderr, flush=True)
    return 1


def run(spec: JobSpec) -> int:
    """veRL's training (a first stage too, when the spec chains one), then its model's export
    and evaluation."""
    if spec.before is not None:
        code = run_first_stage(spec.before)
        if code != 0:
            return code
    code = subprocess.call(
        [sys.executable, "-m", spec.trainer_module, *spec.trainer_args], env=trainer_env(spec)
    )
    print(f"rmsweep: veRL exited with code {code}", flush=True)
    if code != 0:
        return code
    return after_training(spec)


def fetch_inputs(fetch: list[dict[str, Any]], job_dir: Path) -> int:
    """A job on a host that cannot see the submitting machine's disk: its inputs from the
    run's artifacts into ``job_dir``, digest-checked (``rmsweep.shipping``); a failure is the
    run's reason."""
    from rmsweep import names
    from rmsweep.shipping import unpack
    from rmsweep.tracking import tracking_client

    client = tracking_client(os.environ["MLFLOW_TRACKING_URI"])
    run_id = os.environ["MLFLOW_RUN_ID"]
    try:
        shutil.rmtree(job_dir, ignore_errors=True)  # a retried job starts clean
        unpack(client, run_id, fetch, job_dir)
    except Exception as err:
        reason = f"fetching the run's inputs failed: {err}".splitlines()[0][:5000]
        client.set_tag(run_id, names.TAG_REASON, reason)
        print(f"rmsweep: {reason}", file=sys.stderr, flush=True)
        return 1
    print(f"rmsweep: fetched {len(fetch)} inputs of run {run_id}", flush=True)
    return 0


def run_first_stage(stage: dict[str, Any]) -> int:
    """A run's own first stage (``rmsweep.stages``): train into its nested run, keep its
    model, end that run, and give its checkpoint digest to the run's lineage tags."""
    from rmsweep import checkpoint, names
    from rmsweep.tracking import finish_run, tracking_client

    spec, run_id = JobSpec(**stage["spec"]), stage["run_id"]
    env = {**trainer_env(spec), **stage["env"]}
    code = subprocess.call([sys.executable, "-m", spec.trainer_module, *spec.trainer_args], env=env)
    print(f"rmsweep: veRL's first stage exited with code {code}", flush=True)
    client = tracking_client(os.environ["MLFLOW_TRACKING_URI"])
    if code == 0:
        code = after_training(spec, run_id)
    if code != 0:
        reason = f"its SFT stage (run {run_id}) failed"
        client.set_tag(os.environ["MLFLOW_RUN_ID"], names.TAG_REASON, reason)
        finish_run(client, run_id, "failed")
        return code or 1
    finish_run(client, run_id, "complete")
    digest = client.get_run(run_id).data.tags[names.DIGEST_TAG_PREFIX + checkpoint.DIGEST]
    client.set_tag(
        os.environ["MLFLOW_RUN_ID"], names.PARENT_DIGEST_TAG_PREFIX + checkpoint.DIGEST, digest
    )
    return 0


def trainer_env(spec: JobSpec) -> dict[str, str]:
    """The trainer's environment: the job's; for the SFT trainer (one process of
    torch.distributed's world size 1, not a Ray program), a rendezvous port free on this node
    and none of the Ray job's variables that make veRL's worker ask Ray for its device."""
    from rmsweep import sft

    env = dict(os.environ)
    if PRIVATE_RAY in spec.trainer_args:
        # veRL's driver starts a Ray of its own on this host: the Ray job's runtime env (its
        # working_dir package lives in the cluster's GCS) must not follow it there.
        env.pop("RAY_JOB_CONFIG_JSON_ENV_VAR", None)
    if spec.trainer_module == sft.SFT_MODULE:
        from rmsweep.launch._head import free_ports

        # Ray's job supervisor leaves RAY_EXPERIMENTAL_NOSET_*_VISIBLE_DEVICES=1 in the
        # driver's environment; veRL's Worker then reads its local rank from the Ray actor
        # context, which a plain process does not have (IndexError).
        for key in [k for k in env if k.startswith("RAY_EXPERIMENTAL_NOSET_")]:
            del env[key]
        env.pop("RAY_ADDRESS", None)
        (port,) = free_ports(1)
        env["MASTER_PORT"] = str(port)
    return env


def after_training(spec: JobSpec, run_id: str | None = None) -> int:
    """Export and record the checkpoint, then evaluate it; the reason goes on the run
    (``run_id``, by default the job's: ``MLFLOW_RUN_ID``)."""
    from rmsweep import checkpoint, names
    from rmsweep.tracking import tracking_client

    client = tracking_client(os.environ["MLFLOW_TRACKING_URI"])
    run_id = run_id or os.environ["MLFLOW_RUN_ID"]
    step = "exporting the checkpoint"
    try:
        model_dir = checkpoint.export(
            Path(spec.verl_checkpoint_dir), Path(spec.model_dir), hf_subdir=spec.hf_subdir
        )
        checkpoint.record(client, run_id, model_dir, artifact_max_mb=spec.artifact_max_mb)
        print(f"rmsweep: trained model saved to {model_dir}", flush=True)
        if spec.eval:
            from rmsweep import evaluation

            step = "evaluating the trained model"
            settings = evaluation.EvalSettings.from_dict(spec.eval)
            report = evaluation.evaluate(settings, evaluation.ModelSpec.from_path(model_dir))
            evaluation.log_report(client, run_id, report)
            print(evaluation.summary_line(report), flush=True)
    except Exception as err:  # any failure is the run's: recorded, then the job fails
        reason = f"{step} failed: {type(err).__name__}: {err}".splitlines()[0][:5000]
        client.set_tag(run_id, names.TAG_REASON, reason)
        print(f"rmsweep: {reason}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

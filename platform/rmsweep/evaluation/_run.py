"""``rmsweep eval``: judge a run's trained model, a model folder or a baseline on benchmark files.

Everything that can be wrong (the benchmark names and files, the run, its checkpoint, the
template) is checked before anything is judged, and nothing is logged unless the whole
evaluation succeeded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rmsweep.errors import EvalError
from rmsweep.evaluation._evaluate import EvalReport, evaluate
from rmsweep.evaluation._settings import BASELINE_PREFIX, EvalSettings, ModelSpec

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def parse_benches(items: list[str]) -> dict[str, str]:
    """``["rmbench=/data/x.json", …]`` -> ``{"rmbench": "/data/x.json"}``.

    Raises:
        EvalError: an item is not NAME=PATH, names an unknown benchmark or repeats one.
    """
    from rmsweep.schema import BENCHMARKS

    benches: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise EvalError(
                f"--bench {item!r}: expected NAME=PATH, NAME one of {', '.join(BENCHMARKS)}"
            )
        if name not in BENCHMARKS:
            raise EvalError(
                f"--bench {item!r}: unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})"
            )
        if name in benches:
            raise EvalError(f"--bench {name} is given twice")
        benches[name] = str(Path(path).expanduser().resolve())
    if not benches:
        raise EvalError("no benchmark given: --bench NAME=PATH (rewardbench, rmbench, rmb)")
    return benches


def evaluate_model(
    model: str,
    benches: Mapping[str, str],
    *,
    template: str | None = None,
    limit: int | None = None,
    log_run: str | None = None,
    tracking_uri: str | None = None,
    batch_size: int | None = None,
    max_new_tokens: int | None = None,
) -> tuple[EvalReport, str | None]:
    """Evaluate ``model`` (a run id, a model folder, ``baseline:length|random``).

    Returns:
        The report and the run it was logged into (the evaluated run by default, ``log_run``
        when given, none for a folder or baseline without ``log_run``).

    Raises:
        EvalError, CheckpointError, DataError, ConfigError: before anything is judged or logged.
    """
    from rmsweep.config import compose
    from rmsweep.templates import load_template

    uri = tracking_uri or compose([]).tracking.uri
    spec, cfg, run_id = _resolve_model(model, uri)
    changes: dict[str, Any] = {
        "limit": limit,
        "batch_size": batch_size,
        "max_new_tokens": max_new_tokens,
    }
    if template is not None:
        changes["template"] = load_template(template)
    settings = EvalSettings.from_config(cfg, benches=dict(benches), **changes)
    target = log_run or run_id
    client = _client_for(uri, target)
    report = evaluate(settings, spec)
    if client is not None and target is not None:
        from rmsweep.evaluation._report import log_report

        log_report(client, target, report)
    return report, target


def _resolve_model(model: str, uri: str) -> tuple[ModelSpec, Any, str | None]:
    from rmsweep.config import compose

    if model.startswith(BASELINE_PREFIX):
        return ModelSpec.from_baseline(model), compose([]), None
    if Path(model).expanduser().exists():
        return ModelSpec.from_path(Path(model).expanduser().resolve()), compose([]), None
    if not _RUN_ID.match(model):
        raise EvalError(
            f"--model {model!r}: not an MLflow run id, a model folder or "
            f"{BASELINE_PREFIX}length|random"
        )
    from rmsweep import checkpoint
    from rmsweep.reproduce import load_record
    from rmsweep.tracking import tracking_client

    _run, cfg = load_record(model, uri)
    download_to = Path(cfg.workdir) / "checkpoints" / "downloaded"
    path = checkpoint.locate(tracking_client(uri), model, download_to=download_to)
    return ModelSpec(label=f"run {model}", path=path), cfg, model


def _client_for(uri: str, run_id: str | None) -> Any:
    """The tracking client, after checking the run to log into exists (fail before judging)."""
    if run_id is None:
        return None
    from mlflow.exceptions import MlflowException

    from rmsweep.tracking import tracking_client

    client = tracking_client(uri)
    try:
        client.get_run(run_id)
    except MlflowException as err:
        raise EvalError(f"--run {run_id}: {str(err).splitlines()[0]}") from None
    return client

"""veRL's MLflow logging, rmsweep's way: loaded by every veRL process of every run.

``verl/utils/tracking.py`` opens the run (``MLFLOW_RUN_ID``), logs veRL's whole config as
~970 ``/``-keyed params, then logs each step's metrics under veRL's keys. ``import verl``
imports this module in every process when ``VERL_USE_EXTERNAL_MODULES`` names it (``verl.job_env``
puts it there for every device), and the import patches both, CPU and GPU alike:

- veRL's config goes to the run whole, as the artifact ``config/verl.yaml`` (secrets masked),
  not as params: a run's params stay rmsweep's dotted keys;
- each ``log(data, step)`` also logs the short names (``val/acc``, ``train/reward``, …,
  ``val/pred_entropy``: ``names.short_metrics``) in the same call, step by step.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from rmsweep import names

MODULE = __name__  # what VERL_USE_EXTERNAL_MODULES must name
DATA_SOURCE_ENV = "RMSWEEP_DATA_SOURCE"  # the run's validation data source (cfg.data.name)

_log = logging.getLogger(__name__)
_installed = False
_Adapter = TypeVar("_Adapter", bound=type)


def install() -> None:
    """Patch veRL's MLflow tracking (idempotent; imports ``verl.utils.tracking``)."""
    global _installed
    if _installed:
        return
    from verl.utils import tracking

    tracking._compute_mlflow_params_from_objects = config_as_artifact
    # mypy never lets a module's class be rebound; this monkeypatch is the point.
    tracking._MlflowLoggingAdapter = with_short_names(tracking._MlflowLoggingAdapter)  # type: ignore[misc]
    _installed = True


def config_as_artifact(params: object) -> dict[str, Any]:
    """In place of veRL's flattening into params: log veRL's config ``params`` (a mapping or
    a dataclass; veRL's name for it) to the active run as ``config/verl.yaml`` and return no
    params.

    A failure is only logged: veRL retries its whole MLflow set-up on any exception and
    then carries on without MLflow, which would lose the run's metrics.
    """
    if params is None:
        return {}
    try:
        import mlflow
        import yaml
        from verl.utils.tracking import _transform_params_to_json_serializable

        from rmsweep.tracking import config_secret_values, mask_config, redact_secrets

        plain = _transform_params_to_json_serializable(params, convert_list_to_dict=False)
        text = yaml.safe_dump(mask_config(plain), sort_keys=False, default_flow_style=False)
        stored = redact_secrets(text, values=config_secret_values(plain))
        mlflow.log_text(stored, names.VERL_CONFIG_ARTIFACT)
    except Exception as err:
        _log.warning(
            "rmsweep: could not log veRL's config as %s: %s", names.VERL_CONFIG_ARTIFACT, err
        )
    return {}


def with_short_names(adapter: _Adapter) -> _Adapter:
    """veRL's MLflow adapter class, whose ``log`` also logs the short names, first."""
    if getattr(adapter, "_rmsweep_short_names", False):
        return adapter

    class ShortNamesAdapter(adapter):  # type: ignore[misc, valid-type]
        _rmsweep_short_names = True

        def log(self, data: Mapping[str, Any], step: int) -> None:
            from rmsweep import names

            try:
                short = names.short_metrics(data, os.environ.get(DATA_SOURCE_ENV))
            except (TypeError, ValueError):  # a non-numeric value: veRL's own keys still go
                short = {}
            super().log(data={**short, **data}, step=step)

    ShortNamesAdapter.__qualname__ = f"ShortNames{adapter.__qualname__}"
    return cast(_Adapter, ShortNamesAdapter)  # a subclass of ``adapter``


# ``import verl`` imports this module (VERL_USE_EXTERNAL_MODULES): patch then. Imported
# without veRL loaded (tests, the CLI), stay cheap and patch nothing.
if "verl" in sys.modules:
    install()

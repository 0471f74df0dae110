"""Data preparation: loaders -> split by prompt -> rendered veRL parquet, cached by inputs.

Sources (``data.source``): ``synthetic`` (generated, NOT real judgments: see
``rmsweep.data._synthetic`` for the labelling rule), ``helpsteer2`` (jsonl/hub, pointwise on
one attribute), ``pairs`` (prompt/chosen/rejected, chat messages or HH-RLHF transcripts, from
jsonl/json/parquet/``save_to_disk`` folders; pairwise), ``ultrafeedback``
(UltraFeedback's shape: pairwise, or pointwise with 1–10 ratings bucketed onto 0–4) and
``traces`` (a teacher's reasoning traces on pairs -> SFT ``messages`` rows for veRL's SFT
trainer, traces whose verdict disagrees with the label dropped: see ``rmsweep.data._traces``).

Example:
    >>> from rmsweep.data import prepare_dataset, load_data_config
    >>> from rmsweep.templates import load_template
    >>> prepared = prepare_dataset(load_data_config("synthetic"),
    ...                            load_template("pointwise_plain"), Path(".rmsweep/data"))
"""

from __future__ import annotations

from rmsweep.data._cache import inputs_digest
from rmsweep.data._config import load_data_config, make_data_config
from rmsweep.data._prepare import PreparedData, prepare_dataset
from rmsweep.data._synthetic import KEYWORDS, keyword_score, rmbench_rows
from rmsweep.data._traces import kept_traces_line
from rmsweep.data._ultrafeedback import bucket
from rmsweep.data._writer import file_digest, read_rows
from rmsweep.schema import DATA_DEFAULTS, validate_data_config

__all__ = [
    "DATA_DEFAULTS",
    "KEYWORDS",
    "PreparedData",
    "bucket",
    "file_digest",
    "inputs_digest",
    "kept_traces_line",
    "keyword_score",
    "rmbench_rows",
    "load_data_config",
    "make_data_config",
    "prepare_dataset",
    "read_rows",
    "validate_data_config",
]

"""``python -m rmsweep.testing.cluster up | down | run HOST -- COMMAND…`` (root)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rmsweep.testing.cluster import STATE, Cluster


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["up"]:
        cluster = Cluster(checkout=Path.cwd()).up()
        for key, value in cluster.env().items():
            print(f"export {key}={shlex.quote(value)}")
        return 0
    if args[:1] == ["down"]:
        (Cluster.load() if (STATE / "cluster.json").exists() else Cluster(Path.cwd())).down()
        return 0
    if args[:1] == ["run"] and len(args) >= 3:
        rest = args[3:] if args[2] == "--" else args[2:]
        cluster = Cluster.load()
        return subprocess.call(cluster.command(args[1], rest, cluster.checkout), env=cluster.env())
    print(
        "usage: python -m rmsweep.testing.cluster up | down | run HOST -- COMMAND…", file=sys.stderr
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())

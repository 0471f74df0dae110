"""Commands on a cluster's hosts, as a user there would type them (tests, benchmarks)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rmsweep.testing.cluster._cluster import Cluster


@dataclass
class Hosts:
    """Commands on the cluster's hosts, as a user there would type them."""

    cluster: Cluster

    def python(self, host: str, code: str, **env: str) -> str:
        """Run ``code`` on ``host``; its stdout (RuntimeError on a non-zero exit)."""
        argv = [sys.executable, "-c", textwrap.dedent(code)]
        done = self.cluster.run(host, argv, env=env, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"on {host}, python exited {done.returncode}: {done.stderr[-3000:]}")
        return done.stdout.strip()

    def rmsweep(self, host: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        """``rmsweep ARGS`` in ``host``'s checkout with its own ``.rmsweep`` (in its /tmp)."""
        done = self.cluster.run(
            host, ["rmsweep", *args], env=self.home(host), cwd=self.cluster.checkout, timeout=900
        )
        if ok and done.returncode != 0:
            output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            raise RuntimeError(
                f"on {host}, rmsweep {' '.join(args)} exited {done.returncode}: {output}"
            )
        return done

    def start_rmsweep(self, host: str, *args: str, log: str) -> subprocess.Popen[bytes]:
        """``rmsweep ARGS`` on ``host`` in the background, its output to ``log``."""
        return self.cluster.start(
            host, ["rmsweep", *args], env=self.home(host), cwd=self.cluster.checkout, log=Path(log)
        )

    @staticmethod
    def home(host: str) -> dict[str, str]:
        return {"RMSWEEP_HOME": f"/tmp/home-{host}"}  # the host's private /tmp

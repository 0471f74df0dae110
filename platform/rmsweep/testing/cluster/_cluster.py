"""The hosts, their namespaces and services: :class:`Cluster` (see the package's doc)."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rmsweep.testing.cluster._shell import pg_bin, sh, sh_ok, wait

SUBNET = "10.231.0"
BRIDGE = "rmswbr0"
PREFIX = "rmsw"
STATE = Path("/var/lib/rmsweep-cluster")  # outside every host's private /tmp and the checkout
HOME = "/var/lib/rmsweep-home"  # each host's own tmpfs
MLFLOW_PORT = 5055
RAY_PORT = 6379
DASHBOARD_PORT = 8265
WORKER_RESOURCE = "rmsweep_worker"
OBJECT_STORE_BYTES = 300 * 2**20  # each host's: 2 cores and 24 GiB are shared by all


@dataclass(frozen=True)
class Host:
    name: str
    ip: str

    @property
    def netns(self) -> str:
        return f"{PREFIX}-{self.name}"


@dataclass
class Cluster:
    """The hosts, their services and how to run a command on one.

    Args:
        checkout: the controller's working copy (visible on h1 only).
        workers: Ray worker hosts (h2, h3, …).
        worker_cpus: logical CPUs each worker advertises.
        worker_gpus: logical GPUs each worker advertises (the stand-in runner's slots).
    """

    checkout: Path
    workers: int = 2
    worker_cpus: int = 16
    worker_gpus: int = 4
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    hosts: list[Host] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.checkout = Path(self.checkout).resolve()
        if not self.hosts:
            self.hosts = [Host("svc", f"{SUBNET}.2"), Host("login", f"{SUBNET}.10")]
            self.hosts += [Host("h1", f"{SUBNET}.11")]
            self.hosts += [Host(f"h{i}", f"{SUBNET}.{10 + i}") for i in range(2, 2 + self.workers)]

    # --- where things are ---------------------------------------------------------------
    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    @property
    def services(self) -> Host:
        return self.host("svc")

    @property
    def head(self) -> Host:
        return self.host("h1")

    @property
    def worker_hosts(self) -> list[Host]:
        return [h for h in self.hosts if h.name not in ("svc", "login", "h1")]

    @property
    def tracking_uri(self) -> str:
        return f"http://{self.services.ip}:{MLFLOW_PORT}"

    @property
    def storage(self) -> str:
        return f"postgresql://postgres@{self.services.ip}:5432/optuna"

    @property
    def ray_address(self) -> str:
        return f"http://{self.head.ip}:{DASHBOARD_PORT}"

    def env(self) -> dict[str, str]:
        """The environment of a user's command on any host of this cluster."""
        return {
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "RMSWEEP_STORAGE": self.storage,
            "RAY_ADDRESS": self.ray_address,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": self.token,
            "HOME": HOME,
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONUNBUFFERED": "1",
        }

    # --- running commands -----------------------------------------------------------------
    def command(self, host: str, argv: Sequence[str], cwd: Path | None = None) -> list[str]:
        """``argv`` inside ``host``'s network and mount namespaces, in ``cwd`` (default /)."""
        h = self.host(host)
        return [
            "nsenter",
            f"--net=/run/netns/{h.netns}",
            f"--mount={STATE / (h.name + '.mnt')}",
            f"--wd={cwd or '/'}",
            "--",
            *argv,
        ]

    def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on ``host`` (its cluster environment plus ``env``) and wait."""
        return subprocess.run(
            self.command(host, argv, cwd),
            env={**self.env(), **(env or {})},
            cwd="/",
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(
        self,
        host: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` on ``host`` in the background (output to ``log``)."""
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (the child owns it)
        return subprocess.Popen(
            self.command(host, argv, cwd),
            env={**self.env(), **(env or {})},
            cwd="/",
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def clone_checkout(self, host: str) -> None:
        """Give ``host`` a working copy of its own at the checkout's path (as a user's clone
        on that machine would be): the checkout's files git knows of, not its ``.rmsweep/``."""
        files = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=self.checkout,
            capture_output=True,
            check=True,
        ).stdout
        pack = subprocess.run(
            ["tar", "-C", str(self.checkout), "--null", "-T", "-", "-c"],
            input=files,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(
            self.command(host, ["tar", "-x", "-C", str(self.checkout)]), input=pack, check=True
        )

    def pids(self, host: str) -> list[int]:
        """Every process in ``host``'s network namespace."""
        done = subprocess.run(
            ["ip", "netns", "pids", self.host(host).netns], capture_output=True, text=True
        )
        return [int(p) for p in done.stdout.split()]

    def kill_host(self, host: str) -> None:
        """SIGKILL every process of ``host`` (a host lost at once)."""
        for _ in range(5):
            pids = self.pids(host)
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)

    # --- up and down ------------------------------------------------------------------------
    def up(self) -> Cluster:
        """Build the hosts and start the services, the Ray head and its workers; on any
        failure everything made so far is torn down and the error raised."""
        if os.geteuid() != 0:
            raise PermissionError("a one-machine cluster needs root (network namespaces)")
        if (STATE / "cluster.json").exists() or Path(f"/sys/class/net/{BRIDGE}").exists():
            raise RuntimeError(
                f"a one-machine cluster is up already ({STATE}, bridge {BRIDGE}): "
                "`python -m rmsweep.testing.cluster down` ends it"
            )
        try:
            self._network()
            for host in self.hosts:
                self._mounts(host)
            self._postgres()
            self._mlflow()
            self._ray()
            (STATE / "cluster.json").write_text(json.dumps(self.to_dict(), indent=2))
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        """End every process of every host, remove the namespaces, the bridge and the state."""
        data = STATE / "pg"
        if (data / "postmaster.pid").exists():  # a clean stop frees its shared memory
            bin_dir = pg_bin()
            sh_ok(f"runuser -u postgres -- {bin_dir}/pg_ctl -D {data} -m fast -w -t 20 stop")
        for host in self.hosts:
            if Path(f"/run/netns/{host.netns}").exists():
                self.kill_host(host.name)
                subprocess.run(["ip", "netns", "del", host.netns], capture_output=True)
            mnt = STATE / f"{host.name}.mnt"
            if mnt.exists():
                subprocess.run(["umount", str(mnt)], capture_output=True)
        # A namespace some mount still pins outlives `ip netns del`, and so does its veth pair.
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        for line in links.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name == BRIDGE or (name.startswith(PREFIX) and name.endswith("o")):
                subprocess.run(["ip", "link", "del", name], capture_output=True)
        if STATE.exists():
            subprocess.run(["umount", "-l", str(STATE)], capture_output=True)
            shutil.rmtree(STATE, ignore_errors=True)
        shutil.rmtree(HOME, ignore_errors=True)  # the mount point each host's tmpfs used

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "checkout": str(self.checkout)}

    @classmethod
    def load(cls) -> Cluster:
        data = json.loads((STATE / "cluster.json").read_text())
        data["hosts"] = [Host(**h) for h in data["hosts"]]
        return cls(**data)

    def _network(self) -> None:
        sh(f"ip link add {BRIDGE} type bridge && ip link set {BRIDGE} up")
        for i, host in enumerate(self.hosts):
            ns, outer = host.netns, f"{PREFIX}{i}o"
            sh(
                f"ip netns add {ns} && ip link add {outer} type veth peer name eth0 netns {ns} "
                f"&& ip link set {outer} master {BRIDGE} && ip link set {outer} up "
                f"&& ip -n {ns} addr add {host.ip}/24 dev eth0 && ip -n {ns} link set eth0 up "
                f"&& ip -n {ns} link set lo up"
            )

    def _mounts(self, host: Host) -> None:
        """A persistent mount namespace for ``host`` (bound to ``STATE/<host>.mnt``)."""
        if not STATE.exists():
            STATE.mkdir(parents=True)
            sh(f"mount --bind {STATE} {STATE} && mount --make-private {STATE}")
        mnt = STATE / f"{host.name}.mnt"
        mnt.touch()
        venv = Path(sys.prefix)
        keep = STATE / f"{host.name}-venv"
        keep.mkdir(exist_ok=True)
        steps = [
            "mount --make-rprivate /",
            "mount -t tmpfs -o size=2g tmpfs /tmp",
            "mount -t tmpfs -o size=2g tmpfs /dev/shm",
            f"mkdir -p {HOME} && mount -t tmpfs -o size=1g tmpfs {HOME}",
        ]
        if host.name != "h1":  # the controller's working copy is on h1 alone
            steps += [f"mount --bind {venv} {keep}", f"mount -t tmpfs tmpfs {self.checkout}"]
            # The environment, as a node image has it: read-only, at its own path.
            steps += [
                f"mkdir -p {venv}",
                f"mount --bind {keep} {venv}",
                f"mount -o remount,bind,ro {venv}",
            ]
        script = " && ".join(steps)
        sh(f"unshare --mount={mnt} --propagation private sh -c {shlex.quote(script)}")

    def _postgres(self) -> None:
        svc = self.services
        data, sock = STATE / "pg", STATE / "pgsock"
        for folder in (data, sock):
            folder.mkdir()
            shutil.chown(folder, "postgres", "postgres")
        bin_dir = pg_bin()
        sh(f"runuser -u postgres -- {bin_dir}/initdb -D {data} -A trust -U postgres >/dev/null")
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {SUBNET}.0/24 trust\n")
        self.start(
            "svc",
            [
                "runuser", "-u", "postgres", "--", f"{bin_dir}/postgres", "-D", str(data),
                "-c", f"listen_addresses={svc.ip}", "-c", f"unix_socket_directories={sock}",
            ],
            log=STATE / "postgres.log",
        )  # fmt: skip
        wait(lambda: sh_ok(f"{bin_dir}/pg_isready -h {sock} -q"), "PostgreSQL")
        for db in ("optuna", "mlflow"):
            sh(f"runuser -u postgres -- {bin_dir}/createdb -h {sock} {db}")

    def _mlflow(self) -> None:
        svc = self.services
        artifacts = STATE / "artifacts"
        artifacts.mkdir()
        self.start(
            "svc",
            [
                sys.executable, "-m", "mlflow", "server",
                "--backend-store-uri", f"postgresql://postgres@{svc.ip}:5432/mlflow",
                "--artifacts-destination", str(artifacts), "--serve-artifacts",
                "--host", svc.ip, "--port", str(MLFLOW_PORT), "--workers", "1",
            ],
            log=STATE / "mlflow.log",
        )  # fmt: skip
        probe = f"import urllib.request as u; u.urlopen('{self.tracking_uri}/health', timeout=2)"
        wait(lambda: self.run("h1", [sys.executable, "-c", probe]).returncode == 0, "MLflow")

    def _ray(self) -> None:
        ray = str(Path(sys.executable).parent / "ray")
        common = ["--disable-usage-stats", "--object-store-memory", str(OBJECT_STORE_BYTES)]
        head = self.head
        done = self.run(
            "h1",
            [
                ray, "start", "--head", f"--node-ip-address={head.ip}", f"--port={RAY_PORT}",
                f"--dashboard-host={head.ip}", f"--dashboard-port={DASHBOARD_PORT}",
                "--num-cpus=0", "--num-gpus=0", *common,
            ],
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"the Ray head did not start: {done.stderr[-2000:]}")
        for worker in self.worker_hosts:
            self.join(worker.name)
        expected = 1 + len(self.worker_hosts)
        wait(lambda: self.alive_nodes() == expected, f"{expected} Ray nodes")

    def rejoin(self, host: str) -> None:
        """``host`` back after :meth:`kill_host`: its Ray worker started and seen alive, once
        the head has declared the lost one dead (a node joining at the address of one the
        head still waits for is ended with it)."""
        expected = 1 + len(self.worker_hosts)
        wait(lambda: self.alive_nodes() == expected - 1, "the lost node declared dead", 120)
        # A fresh temp dir: the lost node's session files (ports, sockets) are not reused.
        self.join(host, temp_dir=f"/tmp/ray-{secrets.token_hex(4)}")
        wait(lambda: self.alive_nodes() == expected, f"{expected} Ray nodes")

    def join(self, host: str, temp_dir: str | None = None) -> None:
        """Start ``host``'s Ray worker (again, after :meth:`kill_host`) and let it join the head."""
        ray = str(Path(sys.executable).parent / "ray")
        worker = self.host(host)
        resources = json.dumps({WORKER_RESOURCE: 1, f"host_{worker.name}": 1})
        done = self.run(
            worker.name,
            [
                ray, "start", f"--address={self.head.ip}:{RAY_PORT}",
                f"--node-ip-address={worker.ip}", f"--num-cpus={self.worker_cpus}",
                f"--num-gpus={self.worker_gpus}", f"--resources={resources}",
                "--disable-usage-stats", "--object-store-memory", str(OBJECT_STORE_BYTES),
                *([f"--temp-dir={temp_dir}"] if temp_dir else []),
            ],
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{worker.name} did not join: {done.stderr[-2000:]}")

    def alive_nodes(self) -> int:
        """Ray nodes alive, as the head's dashboard says."""
        probe = (
            "import json, os, urllib.request as u\n"
            f"r = u.Request('{self.ray_address}/nodes?view=summary', headers="
            "{'Authorization': 'Bearer ' + os.environ['RAY_AUTH_TOKEN']})\n"
            "nodes = json.load(u.urlopen(r, timeout=5))['data']['summary']\n"
            "print(sum(n['raylet']['state'] == 'ALIVE' for n in nodes))"
        )
        done = self.run("h1", [sys.executable, "-c", probe], timeout=30)
        return int(done.stdout.strip() or 0) if done.returncode == 0 else 0

"""A throwaway Ray cluster on the loopback interface, started with ``ray start`` as an operator would.

Every node is a ``ray start`` in a session of its own, with a private ``--temp-dir``, free
ports and its own token, so nothing is shared with another Ray on this machine. ``stop`` kills every process of
those sessions by id: ``ray stop`` would also stop other users' Ray instances. The nodes import
propscan from this checkout (``PYTHONPATH``), as cluster nodes need propscan installed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")
OBJECT_STORE_BYTES = (
    100_000_000  # Ray's minimum is 75 MB; the default (30% of RAM per node) is far more than batches need
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _zombie(pid: int) -> bool:
    """Dead, not yet reaped: nothing to kill (the state follows the command name in /proc/PID/stat)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


class RayCluster:
    """A head node and optional worker nodes; ``address`` (GCS) and ``client_address`` (Ray Client) join it."""

    def __init__(self, temp_dir: Path) -> None:
        self.temp_dir = temp_dir
        token = temp_dir / "auth_token"
        token.write_text(secrets.token_hex(16))
        # What ~/.ray/auth_token is to a user: with a token at hand, ``ray start --head`` turns
        # token authentication on. A private one keeps the cluster apart from other Ray users here.
        self.token_env = {"RAY_AUTH_TOKEN_PATH": str(token)}
        self.env = {key: value for key, value in os.environ.items() if key not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
        self.env |= self.token_env | {"PYTHONPATH": str(ROOT / "src")}
        self.sessions: list[int] = []
        port, client_port = free_port(), free_port()
        self.address = f"127.0.0.1:{port}"
        self.client_address = f"ray://127.0.0.1:{client_port}"
        self._head_ports = ["--port", str(port), "--ray-client-server-port", str(client_port)]

    def start_head(self, cpus: int) -> None:
        self._start(
            [
                "--head",
                "--node-ip-address",
                "127.0.0.1",
                *self._head_ports,
                "--include-dashboard=false",
                "--dashboard-port",
                str(free_port()),
                "--temp-dir",
                str(self.temp_dir),
            ],
            cpus,
        )

    def add_node(self, cpus: int) -> None:
        """A worker node: joining a cluster with token authentication takes ``RAY_AUTH_MODE=token``, as Ray says."""
        self._start(["--address", self.address, "--node-ip-address", "127.0.0.1"], cpus, {"RAY_AUTH_MODE": "token"})

    def _start(self, options: list[str], cpus: int, env: dict[str, str] | None = None) -> None:
        command = [
            str(RAY),
            "start",
            *options,
            "--num-cpus",
            str(cpus),
            "--object-store-memory",
            str(OBJECT_STORE_BYTES),
            "--dashboard-agent-listen-port",
            str(free_port()),
            "--disable-usage-stats",
        ]
        starter = subprocess.Popen(
            command,
            env=self.env | (env or {}),
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.sessions.append(starter.pid)  # the daemons it leaves behind stay in its session
        output, _ = starter.communicate(timeout=180)
        if starter.returncode != 0:
            raise RuntimeError(f"ray start failed ({starter.returncode}): {output[-2000:]}")

    def processes(self) -> list[int]:
        """Every live process of the nodes' sessions (Ray's daemons and the workers they spawned)."""
        found = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and os.getsid(int(entry)) in self.sessions and not _zombie(int(entry)):
                    found.append(int(entry))
            except OSError:  # it ended meanwhile
                continue
        return found

    def stop(self) -> None:
        """SIGKILL every process the nodes started, by id, until none is left."""
        deadline = time.monotonic() + 30
        while (alive := self.processes()) and time.monotonic() < deadline:
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)

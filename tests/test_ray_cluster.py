"""Ray on a separate cluster, as users run it: ``ray start`` nodes, ``propscan batch`` as a command joining them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from propscan.batch.jobs import AnalyzerSpec, make_engine, run_batch
from propscan.errors import PropscanError
from tests.ray_cluster import ROOT, RayCluster, free_port
from tests.shipped import MODEL, needs_model
from tests.test_jobs import BATCH, _analyzed, corpus_folder, snapshot

pytest.importorskip("ray", reason="the ray extra is not installed")


# Marked slow: a Ray cluster (two nodes, 50-60 s to start here) and a propscan subprocess per run.
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two nodes of one CPU each, so the two actors of a job run on different nodes."""
    nodes = RayCluster(tmp_path_factory.mktemp("ray"))
    try:
        nodes.start_head(cpus=1)
        nodes.add_node(cpus=1)
        yield nodes
    finally:
        nodes.stop()
    assert not nodes.processes(), "a Ray process outlived the cluster"


def batch_command(inputs, url: str, address: str, *options: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "propscan.cli",
        "batch",
        *map(str, inputs),
        "--db",
        url,
        "--model",
        MODEL,
        "--engine",
        "ray",
        "--ray-address",
        address,
        "--workers",
        "2",
        "--threads",
        "1",
        "--no-progress",
        *options,
    ]


def driver_env(cluster: RayCluster | None = None) -> dict[str, str]:
    """A user's shell on this machine: this checkout's propscan, and the token the head was started with."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    return env | (cluster.token_env if cluster else {}) | {"PYTHONPATH": str(ROOT / "src")}


@pytest.mark.slow
@needs_model
@pytest.mark.parametrize("form", ["gcs", "client"])
def test_batch_on_a_cluster_matches_a_local_run(cluster, tmp_path, form):
    address = cluster.address if form == "gcs" else cluster.client_address
    url = f"sqlite:///{tmp_path / 'cluster.db'}"
    done = subprocess.run(
        batch_command([BATCH], url, address),
        check=False,
        env=driver_env(cluster),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr  # the test corpus holds five bad documents on purpose
    assert "9 analyzed, 5 failed" in done.stderr
    local = f"sqlite:///{tmp_path / 'local.db'}"
    run_batch([BATCH], db=local, model=MODEL, threads=1)
    assert snapshot(url) == snapshot(local)


@pytest.mark.slow
@needs_model
def test_sigkill_of_the_driver_then_rerun_loses_and_repeats_nothing(cluster, tmp_path):
    """The killed driver's actors die with its job: the rerun's two actors need both of the cluster's CPUs."""
    folder = corpus_folder(tmp_path, 16)
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    command = batch_command([folder], url, cluster.address, "--batch-size", "1")
    job = subprocess.Popen(command, env=driver_env(cluster), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while _analyzed(url) < 3:
        assert job.poll() is None, f"the job ended before it could be killed: {job.stderr.read().decode()}"
        assert time.monotonic() < deadline, "the job analyzed nothing in time"
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)
    job.wait()
    job.stderr.close()
    done_when_killed = _analyzed(url)
    assert 3 <= done_when_killed < 16, "the kill came too late to test resuming"

    rerun = subprocess.run(command, check=False, env=driver_env(cluster), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{16 - done_when_killed} analyzed" in rerun.stderr
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    run_batch([folder], db=clean, model=MODEL, batch_size=1, threads=1)
    assert snapshot(url) == snapshot(clean)


@pytest.mark.slow  # a subprocess each
@pytest.mark.parametrize("form", ["ray://127.0.0.1:{port}", "127.0.0.1:{port}"])
def test_an_unreachable_cluster_is_one_line(tmp_path, form):
    address = form.format(port=free_port())  # nothing listens there
    command = batch_command([BATCH / "feeds"], f"sqlite:///{tmp_path / 'x.db'}", address)
    done = subprocess.run(command, check=False, env=driver_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(
        f"propscan: error: cannot reach the Ray cluster at {address}: Connection refused; check that the head runs"
    )


@pytest.mark.parametrize("address", ["head", "ray://head", "head:port"])
def test_an_address_without_a_port_is_refused(address):
    with pytest.raises(PropscanError, match="is not HOST:PORT or ray://HOST:PORT"):
        make_engine("ray", AnalyzerSpec(model=MODEL), address=address).start()


class _SmallCluster:
    """Stands in for the ``ray`` module: a cluster of two CPUs."""

    @staticmethod
    def cluster_resources() -> dict[str, float]:
        return {"CPU": 2.0}


def test_a_cluster_too_small_for_the_actors_is_named(caplog):
    from propscan.batch.jobs.engines import _warn_if_too_small

    _warn_if_too_small(_SmallCluster, workers=2, threads=1)
    assert not caplog.records
    _warn_if_too_small(_SmallCluster, workers=2, threads=2)
    assert "the Ray cluster has 2 CPUs and 2 actors x 2 threads need 4" in caplog.text


def test_a_ray_client_address_without_the_ray_client_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "grpc", None)  # makes `import grpc` fail, as without ray[client]
    engine = make_engine("ray", AnalyzerSpec(model=MODEL), address="ray://127.0.0.1:10001")
    with pytest.raises(
        PropscanError, match=r"ray://127.0.0.1:10001 needs the Ray Client: pip install 'propscan\[ray\]'"
    ):
        engine.start()

"""Two "nodes" on localhost: two torchrun agents of one process each train exactly as one agent of two processes.

Each node is a torchrun agent started as ``python -m torch.distributed.run --nnodes 2 --nproc-per-node 1
--rdzv-backend c10d --rdzv-endpoint 127.0.0.1:<port> --rdzv-id <job> -m focalyolo train ...``: the command of
docs/distributed.md for two machines, here both on one. The reference is the single-node launch of
``focalyolo train --processes 2`` (:func:`~focalyolo.engine.launch.torchrun_command`). Both jobs have two gloo
processes with global ranks 0 and 1, each training the same slice of every batch with the same seeds on one
thread, so the final weights are bit-identical (torch.equal): a different rendezvous only changes how the
processes found each other, not a single float operation.

c10d, not the static rendezvous: it is the backend torchrun's documentation recommends for several nodes.
On one machine both agents would take the endpoint for their own address and race to host the rendezvous
store; ``--rdzv-conf is_host=1`` / ``is_host=0`` says which one does, so the start-up is deterministic. A
``join_timeout`` of 60 s and a wall-clock limit per job make a hung rendezvous fail the test instead of hanging.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch.distributed as dist
from ddp_workers import GLOBAL_BATCH

from focalyolo.engine.launch import torchrun_command
from focalyolo.weights.checkpoint import read_checkpoint

pytestmark = [pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()) or sys.platform == "win32",
                                 reason="needs torch.distributed with gloo")]
NODES = 2
JOB_SECONDS = 100  # a job takes ~15 s on a busy 2-core machine; past this it hangs (rendezvous, collectives)


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _train_argv(model_yaml: Path, data_yaml: Path, project: Path) -> list[str]:
    """One CPU epoch of the tiny model (4 steps, an optimizer step each: ``--nbs`` = ``--batch``), one thread and
    no data workers per process, deterministic kernels."""
    return ["train", "--model", str(model_yaml), "--data", str(data_yaml), "--epochs", "1", "--imgsz", "64",
            "--batch", str(GLOBAL_BATCH), "--nbs", str(GLOBAL_BATCH), "--workers", "0", "--threads", "1",
            "--device", "cpu", "--deterministic", "--no-val", "--no-plots", "--project", str(project)]


def _node_command(argv: list[str], node: int, port: int, job: str) -> list[str]:
    """The torchrun command of machine ``node`` of a :data:`NODES`-machine job (docs/distributed.md), one process."""
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(NODES), "--nproc-per-node", "1",
            "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", job,
            "--rdzv-conf", f"is_host={int(node == 0)},join_timeout=60", "-m", "focalyolo", *argv]


def _run_together(commands: list[list[str]], logs: Path) -> None:
    """Run ``commands`` at the same time, their output in ``logs/agent<i>.log``; fail (after killing them) unless all
    exit 0 within :data:`JOB_SECONDS`."""
    logs.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    outputs = [logs / f"agent{i}.log" for i in range(len(commands))]
    agents = [subprocess.Popen(c, env=env, stdout=o.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
              for c, o in zip(commands, outputs)]
    try:
        codes = [agent.wait(timeout=JOB_SECONDS) for agent in agents]
    except subprocess.TimeoutExpired:
        codes = None
    finally:
        for agent in agents:  # each agent leads its own session: this ends it and the worker it started
            if agent.poll() is None:
                os.killpg(agent.pid, signal.SIGKILL)
                agent.wait()
    tails = "\n".join(f"--- {o.name}\n{o.read_text()[-3000:]}" for o in outputs)
    assert codes is not None, f"not done within {JOB_SECONDS} s:\n{tails}"
    assert codes == [0] * len(commands), tails


def test_two_nodes_train_the_weights_of_one_node_with_two_processes(tiny_model_yaml, tiny_data_yaml, tmp_path):
    one, two = tmp_path / "one-node", tmp_path / "two-nodes"
    _run_together([torchrun_command(_train_argv(tiny_model_yaml, tiny_data_yaml, one), NODES)], tmp_path / "logs-one")
    port, job = _free_port(), f"focalyolo-test-{uuid.uuid4().hex[:8]}"
    argv = _train_argv(tiny_model_yaml, tiny_data_yaml, two)
    _run_together([_node_command(argv, node, port, job) for node in range(NODES)], tmp_path / "logs-two")

    assert [p.name for p in two.iterdir()] == ["exp"]  # global rank 0 alone made the run folder
    expected, got = (read_checkpoint(project / "exp" / "weights" / "last.pt") for project in (one, two))
    assert got["world_size"] == expected["world_size"] == NODES
    assert expected["model"].keys() == got["model"].keys()
    assert [k for k, v in expected["model"].items() if not v.equal(got["model"][k])] == []
    rows = [list(csv.reader((project / "exp" / "results.csv").open())) for project in (one, two)]
    assert rows[0] == rows[1] and len(rows[0]) == 2  # the header and epoch 1: the same losses and learning rates

"""Shared test fixtures: the optional real data next to the repository, a tiny model and dataset, log capture."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"

LEARNING_TESTS = "tests/engine/test_train_learns.py"
LEARNING_ORDER = (
    "test_tiny_focal_model_learns_synthetic_shapes", "test_tiny_focal_segmentation_model_learns_synthetic_outlines",
    "test_tiny_focal_pose_model_learns_synthetic_keypoints", "test_tiny_focal_classifier_learns_synthetic_shapes",
    "test_tiny_focal_obb_model_learns_synthetic_obb",
)
"""The learning tests in the order they start. Under ``pytest -n 2`` the first four units go to the two workers in
turns (detection and pose to one, segmentation and classification to the other: about 180 s and 280 s two at a
time), OBB (about 110 s) to the one that comes free first, and the short tests fill in behind them."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Schedule for ``pytest -n 2 --dist loadgroup`` (the README's test command).

    The learning tests, minutes each, start first and each on its own, so the two workers share them and no
    long test is left for the end. Every other test joins its module's ``xdist_group``, so a module's fixtures
    (trained models, exports) are built once, on one worker. Without xdist this only reorders the tests.
    """
    learning = sorted((i for i in items if i.nodeid.startswith(LEARNING_TESTS)),
                      key=lambda i: LEARNING_ORDER.index(i.name))
    others = [i for i in items if not i.nodeid.startswith(LEARNING_TESTS)]
    for item in others:
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    items[:] = learning + others


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The learning tests' figures (their ``learning`` property), after the run: under xdist a test's own
    output is not shown, and these lines are the record of what each learning test reached."""
    reports = [r for key in ("passed", "failed") for r in terminalreporter.stats.get(key, []) if r.when == "call"]
    lines = [value for r in reports for name, value in r.user_properties if name == "learning"]
    if lines:
        terminalreporter.section("learning tests")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session", autouse=True)
def _thread_policy():
    """Run the suite under the package's thread policy (all cores but one: 1 on a 2-core machine), here and in
    the processes tests start, so a busy neighbour process does not stall every kernel."""
    from focalyolo.utils.threads import configure_threads

    threads = configure_threads()
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    yield


@pytest.fixture(autouse=True)
def _deterministic_threads():
    """Keep tests reproducible and cheap on the 2-core CI machine."""
    torch.manual_seed(0)
    yield


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` next to the repo; tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED


TINY_DUAL_FOCAL = {  # a PGI (dual-head) model with a focal block, small enough to train in seconds on a CPU
    "nc": 5, "depth_multiple": 1.0, "width_multiple": 1.0,
    "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [16, 3, 2]], [-1, 1, "ADown", [16]],
                 [-1, 1, "ADown", [16]], [-1, 1, "FocalModulationBlock", [16]], [-1, 1, "ADown", [16]]],
    "head": [[2, 1, "Conv", [16, 3, 1]], [[2, 4, 5, 6, 4, 5], 1, "DualDDetect", ["nc"]]],
}


@pytest.fixture(scope="session")
def tiny_model_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A YAML of :data:`TINY_DUAL_FOCAL`."""
    import yaml

    path = tmp_path_factory.mktemp("tiny-model") / "tiny-dual-focal.yaml"
    path.write_text(yaml.safe_dump(TINY_DUAL_FOCAL))
    return path


@pytest.fixture(scope="session")
def tiny_data_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic dataset (5 classes) at 64 px: 16 train and 4 val images."""
    from focalyolo.data import generate_synthetic

    return generate_synthetic(tmp_path_factory.mktemp("tiny-data"), n_train=16, n_val=4, imgsz=64, seed=3)


class _ListHandler(logging.Handler):
    """Collects log records in a list."""

    def __init__(self, records: list[logging.LogRecord]):
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def focalyolo_log() -> list[logging.LogRecord]:
    """Records of the ``focalyolo`` logger during the test (works after the CLI has stopped propagation)."""
    records: list[logging.LogRecord] = []
    handler = _ListHandler(records)
    logger = logging.getLogger("focalyolo")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch):
    """Run torch on one thread, here and in child processes (``OMP_NUM_THREADS``): on a busy shared CPU the
    threads of a tiny model's kernels spend most of their time waiting for each other (10-30x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(threads)

"""Benchmark tests run single-threaded: on a shared 2-core machine two spinning OpenMP threads can be
ten times slower than one, and these tests check files and columns, not speed."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

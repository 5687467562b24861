"""Timing primitives for the benchmarks: robust statistics, the machine's matmul peak, and how busy it was.

Latency on a shared machine is noisy, so every figure is a median with its spread (p10-p90), taken after
warm-up, and every table row carries the load it was measured under: the 1-minute load average at its
start and the share of the CPUs that *other* processes used while it ran (from ``/proc``), so a reader can
tell a slow kernel from a busy neighbour.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

__all__ = [
    "LoadMonitor", "LoadSample", "MachineInfo", "Timing", "cpu_name", "load_average", "machine_info", "matmul_peak",
    "measure", "measure_interleaved", "percentile", "synchronize", "wait_for_quiet",
]


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` with linear interpolation between order statistics."""
    if not values:
        raise ValueError("percentile of an empty list")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class Timing:
    """Wall-clock seconds of repeated runs of one thing (warm-up runs excluded)."""

    seconds: list[float]

    @property
    def runs(self) -> int:
        return len(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p10(self) -> float:
        return percentile(self.seconds, 10)

    @property
    def p90(self) -> float:
        return percentile(self.seconds, 90)

    @property
    def iqr(self) -> float:
        return percentile(self.seconds, 75) - percentile(self.seconds, 25)

    @property
    def best(self) -> float:
        return min(self.seconds)


def synchronize(device: torch.device | str | None) -> None:
    """Wait for queued CUDA work (a no-op on CPU), so wall-clock time covers the computation."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def measure(fn: Callable[[], object], warmup: int = 2, runs: int = 10, max_seconds: float | None = None,
            min_runs: int = 3, device: torch.device | str | None = None) -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then time up to ``runs`` calls.

    ``max_seconds`` caps the timed phase: once at least ``min_runs`` calls are timed and the budget is spent,
    it stops early (the Timing says how many runs it holds). With ``device`` a CUDA device, each call is
    synchronised.
    """
    for _ in range(warmup):
        fn()
    synchronize(device)
    seconds: list[float] = []
    start = time.perf_counter()
    for _ in range(max(runs, 1)):
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        seconds.append(time.perf_counter() - t0)
        if max_seconds is not None and len(seconds) >= min_runs and time.perf_counter() - start > max_seconds:
            break
    return Timing(seconds)


def measure_interleaved(fns: dict[str, Callable[[], object]], warmup: int = 2, runs: int = 10,
                        device: torch.device | str | None = None, max_seconds: float | None = None,
                        min_runs: int = 3, settle: int = 0) -> dict[str, Timing]:
    """Time several callables in turns (A, B, A, B, ...), so a change in machine load hits all of them alike.

    ``max_seconds`` caps the timed phase of all of them together: after at least ``min_runs`` rounds, no new
    round starts once it is spent. ``settle`` untimed calls of the same callable precede each timed one, so
    it is timed in its own steady state (caches and the allocator's free memory shaped by its own tensors,
    not by the previous callable's, which matters when one of them allocates hundreds of MB).
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    synchronize(device)
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    for round_ in range(max(runs, 1)):
        for name, fn in fns.items():
            for _ in range(settle):
                fn()
            synchronize(device)
            t0 = time.perf_counter()
            fn()
            synchronize(device)
            seconds[name].append(time.perf_counter() - t0)
        if max_seconds is not None and round_ + 1 >= min_runs and time.perf_counter() - start > max_seconds:
            break
    return {name: Timing(values) for name, values in seconds.items()}


@torch.no_grad()
def matmul_peak(n: int = 2048, runs: int = 5, device: torch.device | str = "cpu") -> float:
    """The machine's fp32 matmul rate in GFLOP/s: the best of ``runs`` timed ``n x n @ n x n`` products
    (2 n^3 FLOPs each), with the current torch thread count. Achieved model GFLOP/s are read against it."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    out = torch.empty(n, n, device=device)
    timing = measure(lambda: torch.mm(a, b, out=out), warmup=2, runs=runs, device=device)
    return 2 * n**3 / timing.best / 1e9


def _cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from ``/proc/stat``; None where there is no /proc."""
    try:
        with open("/proc/stat") as handle:
            fields_ = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields_[3] + (fields_[4] if len(fields_) > 4 else 0)  # idle + iowait
    return sum(fields_[:8]) - idle, sum(fields_[:8])


def _own_jiffies() -> int | None:
    """User + system jiffies of this process and its waited-for children (``/proc/self/stat``)."""
    try:
        with open("/proc/self/stat") as handle:
            rest = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return sum(int(v) for v in rest[11:15])  # utime, stime, cutime, cstime


def load_average() -> float:
    """The 1-minute load average (0.0 where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


@dataclass
class LoadSample:
    """How busy the machine was around a measurement.

    Attributes:
        load1: 1-minute load average when the measurement started (includes this process once it runs).
        others: CPUs' worth of work done by other processes during the measurement (0 = quiet machine,
            ``os.cpu_count()`` = every core busy with someone else); None without ``/proc``.
    """

    load1: float
    others: float | None = None


class LoadMonitor:
    """Context manager measuring :class:`LoadSample` over its block: ``with LoadMonitor() as load: ...``."""

    def __enter__(self) -> LoadSample:
        self.sample = LoadSample(load_average())
        self._system, self._own, self._t0 = _cpu_jiffies(), _own_jiffies(), time.monotonic()
        return self.sample

    def __exit__(self, *exc_info: object) -> None:
        system, own = _cpu_jiffies(), _own_jiffies()
        if None in (system, own, self._system, self._own):
            return
        busy = system[0] - self._system[0]
        total = system[1] - self._system[1]
        mine = own - self._own
        if total > 0:
            cpus = os.cpu_count() or 1
            self.sample.others = max(busy - mine, 0) / total * cpus


def wait_for_quiet(max_load: float = 1.5, timeout: float = 300.0, poll: float = 10.0,
                   log: Callable[[str], None] = print) -> float:
    """Wait (up to ``timeout`` seconds) until the 1-minute load average is below ``max_load``; return it.

    Gives up quietly after ``timeout``: the tables record the load anyway, so a busy run is visible, not hidden.
    """
    deadline = time.monotonic() + timeout
    load = load_average()
    if load >= max_load:
        log(f"load average {load:.2f} >= {max_load}: waiting up to {timeout:.0f} s for a quieter machine")
    while load >= max_load and time.monotonic() < deadline:
        time.sleep(min(poll, max(deadline - time.monotonic(), 0)))
        load = load_average()
    if load >= max_load:
        log(f"load average still {load:.2f}; measuring anyway (the tables record it)")
    return load


def cpu_name() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (or ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass
class MachineInfo:
    """What the numbers were measured on."""

    cpu: str
    cores: int
    torch_threads: int
    torch: str
    isa: str
    onnxruntime: str | None
    date: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M"))

    def line(self) -> str:
        ort = f", onnxruntime {self.onnxruntime}" if self.onnxruntime else ""
        return (f"{self.date}; {self.cpu}, {self.cores} cores ({self.isa}), torch {self.torch} with "
                f"{self.torch_threads} threads{ort}")


def machine_info() -> MachineInfo:
    """Describe this machine and the software that ran the benchmark."""
    try:
        import onnxruntime

        ort = onnxruntime.__version__
    except ImportError:
        ort = None
    return MachineInfo(cpu=cpu_name(), cores=os.cpu_count() or 1, torch_threads=torch.get_num_threads(),
                       torch=torch.__version__, isa=torch.backends.cpu.get_cpu_capability(), onnxruntime=ort)

"""Benchmarks: model latency tables, context-block scaling, and the trained ablation (``focalyolo benchmark``
and ``focalyolo compare``). Speed is measured and printed here, never asserted in tests."""

from .timing import LoadMonitor, Timing, machine_info, matmul_peak, measure, measure_interleaved, wait_for_quiet

__all__ = ["LoadMonitor", "Timing", "machine_info", "matmul_peak", "measure", "measure_interleaved", "wait_for_quiet"]

"""Analysis of models and runs: latency tables, context-block scaling, the trained ablation and what it shows, and
pictures of what the context blocks see (``focalyolo benchmark``, ``focalyolo compare``, ``focalyolo explain``).
Speed is measured and printed here, never asserted in tests."""

from .timing import LoadMonitor, Timing, machine_info, matmul_peak, measure, measure_interleaved, wait_for_quiet

__all__ = ["LoadMonitor", "Timing", "machine_info", "matmul_peak", "measure", "measure_interleaved", "wait_for_quiet"]

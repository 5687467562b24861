"""Model I/O: checkpoints (atomic saves, restricted loading), what a model argument names (sources), weight transfer
between configs, the official YOLOv9 checkpoint import, and the YOLOv9 -> GELAN conversion and fusion.

Training, validation, prediction and export read and write models through here; :mod:`focalyolo.deploy` builds on it
for exported formats. The modules are imported by name (``focalyolo.weights.checkpoint`` …).
"""

__all__: list[str] = []

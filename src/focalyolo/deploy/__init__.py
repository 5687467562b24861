"""Model formats: checkpoint I/O, model sources, YOLOv9 -> GELAN conversion and fusion, the official-checkpoint
import, ONNX / TorchScript export, INT8 quantization and the ONNX Runtime detector.

The modules are imported by name (``focalyolo.deploy.export`` …) so that nothing here loads onnx or onnxruntime
until a command needs them.
"""

__all__: list[str] = []

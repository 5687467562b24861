"""Deployment: ONNX / TorchScript export and its check against PyTorch, the NMS graph, INT8 quantization, and the
exported models' runtimes (ONNX Runtime, OpenVINO, TensorRT) behind one :class:`~.onnx_model.ExportedModel` interface;
:mod:`.inference` loads any model source ready for inference.

The modules are imported by name (``focalyolo.deploy.export`` …) so that nothing here loads onnx or onnxruntime
until a command needs them.
"""

__all__: list[str] = []

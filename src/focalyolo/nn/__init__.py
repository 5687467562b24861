"""Neural-network modules usable in model YAMLs, and the registry that names them."""

from .attention import MultiHeadSelfAttention2d, SelfAttentionBlock
from .blocks import (
    ELAN1,
    SPPELAN,
    AConv,
    ADown,
    CBFuse,
    CBLinear,
    Concat,
    RepNBottleneck,
    RepNCSP,
    RepNCSPELAN4,
    Silence,
)
from .conv import Conv, RepConvN, activation_scope
from .focal import FocalModulation, FocalModulationBlock, FocalModulationLayer
from .head import DFL, DDetect, DualDDetect
from .layers import ConvMlp, DropPath, LayerNorm2d, LayerScale2d
from .registry import LayerContext, LayerPlan, lookup, register_module, registered_names

__all__ = [
    "ADown", "AConv", "CBFuse", "CBLinear", "Concat", "Conv", "ConvMlp", "DDetect", "DFL", "DropPath",
    "DualDDetect", "ELAN1", "FocalModulation", "FocalModulationBlock", "FocalModulationLayer", "LayerContext",
    "LayerNorm2d", "LayerPlan", "LayerScale2d", "MultiHeadSelfAttention2d", "RepConvN", "RepNBottleneck",
    "RepNCSP", "RepNCSPELAN4", "SPPELAN", "SelfAttentionBlock", "Silence", "activation_scope", "lookup",
    "register_module", "registered_names",
]

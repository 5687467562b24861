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
from .classify import Classify
from .conv import Conv, RepConvN, activation_scope
from .focal import FocalModulation, FocalModulationBlock, FocalModulationLayer
from .head import DFL, DDetect, Detect, DualDDetect
from .layers import ConvMlp, DropPath, LayerNorm2d, LayerScale2d
from .obb import DOBB, DualDOBB
from .pose import DPose, DualDPose
from .registry import LayerContext, LayerPlan, lookup, register_module, registered_names
from .segment import DSegment, DualDSegment, Proto, Segment
from .timm_backbone import Index, TimmBackbone

__all__ = [
    "AConv", "ADown", "CBFuse", "CBLinear", "Classify", "Concat", "Conv", "ConvMlp", "DDetect", "DFL", "DOBB", "DPose",
    "DSegment", "Detect", "DropPath", "DualDDetect", "DualDOBB", "DualDPose", "DualDSegment", "ELAN1",
    "FocalModulation", "FocalModulationBlock", "FocalModulationLayer", "Index", "LayerContext", "LayerNorm2d",
    "LayerPlan", "LayerScale2d", "MultiHeadSelfAttention2d", "Proto", "RepConvN", "RepNBottleneck", "RepNCSP",
    "RepNCSPELAN4", "SPPELAN", "Segment", "SelfAttentionBlock", "Silence", "TimmBackbone", "activation_scope", "lookup",
    "register_module", "registered_names",
]

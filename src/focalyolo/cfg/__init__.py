"""The typed configuration: every option of train / val / predict / export and every hyper-parameter.

:mod:`~focalyolo.cfg.schema` defines the options, :mod:`~focalyolo.cfg.hyp` reads hyp YAMLs against it,
:mod:`~focalyolo.cfg.render` prints it as commented YAML. The packaged hyp files live next to them.
"""

from .hyp import LEGACY_KEYS, load_hyp, packaged_hyps
from .options import Config, OptionError, UnknownOptionError
from .render import format_config
from .schema import (
                     GROUP_TITLES,
                     HYP_GROUPS,
                     SYNTHETIC,
                     ExportConfig,
                     PredictConfig,
                     TrainConfig,
                     ValConfig,
                     default_hyperparameters,
)

__all__ = [
    "Config", "ExportConfig", "GROUP_TITLES", "HYP_GROUPS", "LEGACY_KEYS", "OptionError", "PredictConfig",
    "SYNTHETIC", "TrainConfig", "UnknownOptionError", "ValConfig", "default_hyperparameters", "format_config",
    "load_hyp", "packaged_hyps",
]

"""Tasks behind one protocol (:class:`Task`): the loops look a model's task up with :func:`task_of`.

Each task module registers itself when imported here; a new task is a new module and one import below. A task's
metrics are an :class:`Evaluator` (built with the :class:`EvalSettings` of an evaluation); its pre- and
postprocessing for prediction take a :class:`PredictSettings` (and a :class:`PredictBatch`).
"""

from . import classify, detect, obb, pose, segment  # noqa: F401  (register the tasks)
from .base import TASKS, LossFn, Task, get_task, register_task, task_of
from .evaluator import EvalSettings, Evaluator
from .prediction import PredictBatch, PredictSettings

__all__ = [
    "EvalSettings", "Evaluator", "LossFn", "PredictBatch", "PredictSettings", "TASKS", "Task", "get_task",
    "register_task", "task_of",
]

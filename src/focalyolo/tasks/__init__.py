"""Tasks behind one protocol (:class:`Task`): the loops look a model's task up with :func:`task_of`.

Each task module registers itself when imported here; a new task is a new module and one import below.
"""

from . import classify, detect, pose, segment  # noqa: F401  (register the tasks)
from .base import TASKS, LossFn, Task, get_task, register_task, task_of

__all__ = ["LossFn", "TASKS", "Task", "get_task", "register_task", "task_of"]

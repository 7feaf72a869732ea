"""Continual-learning methods, each one file and one ``@register_method``."""

from litelora.methods import inclora, inflora, joint, olora, sdlora, seqlora  # noqa: F401  (registration)
from litelora.methods.base import ContinualMethod, TaskContext
from litelora.methods.registry import METHODS, create_method, list_methods, register_method

__all__ = ["METHODS", "ContinualMethod", "TaskContext", "create_method", "list_methods", "register_method"]

"""Model seams shared by training and the generative path: the task-model interface, the
feature-backbone base and the model registry."""

from litelora.models.backbone import BACKBONES, Backbone, TensorBackbone
from litelora.models.task_model import TaskModel

__all__ = ["BACKBONES", "Backbone", "TaskModel", "TensorBackbone"]

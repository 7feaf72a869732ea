"""The models a run trains: the task-model interface, the feature-backbone base, the model
registry, the model config, the text, vision and tiny test backbones and the classifier with its
growing head. The generative models (``litelora.generative``) build on this package.

Importing it registers every backbone defined here (``minilm``, ``tiny-bert``, the image models).
"""

from litelora.models.backbone import BACKBONES, Backbone, TensorBackbone
from litelora.models.task_model import TaskModel

from litelora.models import text, tiny, vision  # noqa: E402, F401  (register their models)

__all__ = ["BACKBONES", "Backbone", "TaskModel", "TensorBackbone"]

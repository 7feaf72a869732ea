"""The continual head inside the trainer integrations: when the model LiteLoRA wraps is a
:class:`~litelora.models.continual_classifier.ContinualClassifier`, the integrations open and close
its tasks around LiteLoRA's, so its rows train with the task and are re-fitted after it."""

from __future__ import annotations

from litelora.errors import ConfigError
from litelora.models.continual_classifier import ContinualClassifier
from litelora.training.controller import LiteLoRA


def continual_head(lite: LiteLoRA) -> ContinualClassifier | None:
    """``lite.model`` when it is a ``ContinualClassifier`` (else ``None``), after checking that its
    head trains: LiteLoRA freezes every base parameter not in ``modules_to_save``."""
    model = lite.model
    if not isinstance(model, ContinualClassifier):
        return None
    trained = {id(p) for p in lite.saved}
    if not all(id(p) in trained for p in model.head.parameters()):
        raise ConfigError("the ContinualClassifier's head is frozen: build LiteLoRA with modules_to_save=['head']")
    return model

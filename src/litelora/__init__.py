"""litelora: continual fine-tuning with LoRA adapter banks and the LiteLoRA gate."""

__version__ = "0.1.0"

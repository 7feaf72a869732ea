"""Integrations with the training tools people already use (``hf_trainer``: transformers' Trainer)."""

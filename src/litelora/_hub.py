"""Loading what a saved folder names without reaching the network."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def hub_offline(enabled: bool = True) -> Iterator[None]:
    """While open, Hugging Face loaders read only local files and the local cache, as with
    ``HF_HUB_OFFLINE=1``: a model name written in a run directory must not make litelora download
    (or send a request for) whatever it names unless the user asks for it."""
    if not enabled:
        yield
        return
    try:
        import huggingface_hub.constants as constants
    except ImportError:  # no hub client installed: nothing could reach the network anyway
        yield
        return
    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def available_offline(name: str) -> bool:
    """Whether ``name`` (a folder, or a hub id) can be loaded without the network: the folder
    exists, or the hub id's ``config.json`` is in the local Hugging Face cache."""
    if Path(name).expanduser().is_dir():
        return True
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(name, "config.json")
    except ValueError:  # not a valid hub id either
        return False
    return isinstance(found, str)

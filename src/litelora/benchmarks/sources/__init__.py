"""Loaders for real labelled data: each returns examples with integer labels and class names."""

from __future__ import annotations

from litelora.benchmarks.sources.fortunes import find_fortunes_dir, load_fortunes
from litelora.benchmarks.sources.olora import OLORA_ORDERS, load_olora_task
from litelora.benchmarks.sources.spam_assassin import find_spam_data, load_spam_assassin
from litelora.benchmarks.sources.text_packages import load_bbc_news, load_rotten_tomatoes, package_dir
from litelora.benchmarks.sources.wordnet import (
    LEXNAMES,
    find_wordnet_file,
    load_wordnet_supersenses,
    wordnet_search_dirs,
)

__all__ = [
    "LEXNAMES",
    "OLORA_ORDERS",
    "find_fortunes_dir",
    "find_spam_data",
    "find_wordnet_file",
    "load_bbc_news",
    "load_fortunes",
    "load_olora_task",
    "load_rotten_tomatoes",
    "load_spam_assassin",
    "load_wordnet_supersenses",
    "package_dir",
    "wordnet_search_dirs",
]

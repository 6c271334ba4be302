"""YAML parsed by libyaml when PyYAML was built with it (the Debian and PyPI wheels are).

Every ``egress`` command reads about 70 YAML files at start-up (signatures, term packs, policy
packs, processor profiles); the pure-Python parser spent 0.2 s of each start on them, libyaml a
tenth of that. The documents, the node tree (with line numbers for error messages) and the
exceptions (``yaml.YAMLError``) are the same; without libyaml the pure-Python loader is used.
"""

from __future__ import annotations

from typing import Any

import yaml

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` with the fastest safe loader available."""
    return yaml.load(text, Loader=SafeLoader)


def compose(text: str) -> yaml.Node | None:
    """``yaml.compose`` (the node tree, for line numbers) with the same loader."""
    node: yaml.Node | None = yaml.compose(text, Loader=SafeLoader)
    return node

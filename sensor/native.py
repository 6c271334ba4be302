"""Loading the optional C extensions (docs/performance.md, "The C extensions and their switches").

Each extension has a Python or numpy reference that computes the same thing; the extension is used
when it was built (``setup.py``: optional, needs a compiler) and its switch is not ``0``. One
function, so every module reads its switch the same way.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def optional_extension(name: str, switch: str) -> ModuleType | None:
    """The extension module ``name`` (``"detectors._hsscan"``), or None when it was not built or
    the environment variable ``switch`` is ``0`` (forcing the reference code)."""
    if os.environ.get(switch, "1") == "0":
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None

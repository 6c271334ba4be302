"""Detectors: find personal and important data in transferred objects.

* ``catalogue`` loads the identifier definitions from the YAML packs in ``signatures/``.
* ``matcher`` compiles every active pattern into one hyperscan database and returns candidate
  positions as numpy arrays.
* ``validators`` confirms candidates in batches with numpy (check digits, dates, region codes); each
  vectorised validator has a plain-Python reference it is tested against.
* ``masking`` turns identifiers into the masked samples alerts may carry.
* ``engine`` ties these together: object bytes in, ``ObjectFindings`` out.

Raw identifiers never leave this package: findings carry counts, masked samples and offsets only.
"""

from detectors.engine import DetectionEngine, Finding, ObjectFindings

__all__ = ["DetectionEngine", "Finding", "ObjectFindings"]

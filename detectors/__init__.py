"""Detectors: find personal and important data in transferred objects.

Object bytes go through one pipeline (``engine``):

* ``catalogue`` loads the identifier signatures (YAML, format version 2; see docs/signatures.md)
  from ``signatures/identifiers`` and the operator's directories, applying overrides and
  ``signatures.disabled``.
* ``matcher`` compiles every pattern and context keyword into one hyperscan database and turns its
  matches into candidate spans (numpy arrays), trimming the boundary wrappers for fixed-length,
  start-of-match and walk-back patterns.
* ``validators``, ``validators_contact``, ``validators_documents``, ``validators_finance`` confirm
  and normalise all candidates of an object at once (check characters, Luhn, mod 97, dates, code
  tables in ``tables``); ``reference`` holds the plain-Python definition of each, tested against them.
* ``layout`` decides whether the object is a table; ``context`` turns keywords, column headers and
  structural exclusions into a confidence per value.
* ``individuals`` counts distinct people and makes keyed hashes of them; ``important`` scores
  important-data term dictionaries; ``masking`` makes the samples alerts may carry.
* ``cli`` (``egress signatures …``, ``egress scan``), ``corpus``/``corpus_values``/``accuracy``
  (labelled synthetic corpus, docs/accuracy.md) and ``baseline`` (a pure-Python ``re`` scanner and
  the throughput comparison) are tools around the engine.

Raw identifiers never leave this package: findings carry counts, masked samples, offsets and keyed
hashes only.
"""

from detectors.engine import DetectionEngine, Finding, ObjectFindings

__all__ = ["DetectionEngine", "Finding", "ObjectFindings"]

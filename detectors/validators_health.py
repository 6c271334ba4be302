"""Medical health identifiers: ICD-10 diagnosis codes.

An ICD-10 code is a letter, two digits and an optional subdivision after a point (``E11``,
``E11.9``, ``S72.001``). The letter and the two digits must name a category that exists: each
chapter letter ends at a known last category (``D89``, ``H95``, ``K93``), and ``U`` is reserved
for provisional codes. Codes are short and common in part numbers, so the signature also needs a
diagnosis keyword nearby; this kernel only removes shapes that cannot be a code.
"""

from __future__ import annotations

import numpy as np

from detectors.tables import ICD10_LAST_CATEGORY
from detectors.vectors import (
    DIGIT,
    ByteArray,
    Checked,
    IntArray,
    as_strings,
    empty,
    span_matrix,
    upper,
)

_LAST = np.full(256, -1, dtype=np.int64)  # last valid two-digit category per chapter letter
for _letter, _last in ICD10_LAST_CATEGORY.items():
    _LAST[ord(_letter)] = _last


def check_icd10(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """Letter + 2 digits (+ ``.`` + 1 to 4 digits or letters); normalised to upper case."""
    if starts.size == 0:
        return empty()
    mat, _ = span_matrix(buf, starts, ends, width=8)
    v = upper(mat)
    length = ends - starts
    category = (v[:, 1].astype(np.int64) - ord("0")) * 10 + (v[:, 2].astype(np.int64) - ord("0"))
    ok = DIGIT[v[:, 1]] & DIGIT[v[:, 2]] & (category <= _LAST[v[:, 0]])
    ok &= (length == 3) | ((length >= 5) & (length <= 8) & (v[:, 3] == ord(".")))
    return Checked(ok, as_strings(v))


KERNELS = {"icd10": check_icd10}

"""The identifier catalogue: YAML signature packs, validated with pydantic.

A pack is a directory of YAML files, one identifier per file (format described in
docs/signatures.md). The built-in pack is ``signatures/identifiers``; operators add directories with
``signatures.extra_directories`` and switch identifiers off with ``signatures.disabled``. A file in an
operator directory either defines a new identifier, replaces a built-in one with the same ``id``, or
``override``s a few fields of one (enable it, change its threshold, add keywords or allowlisted
values) without copying the whole definition, so a signature update does not silently drop the
operator's additions.

Format version 1 (one fixed-length pattern) is still read and converted to version 2 on load, so
packs written for the walking skeleton keep working. A file that does not fit the schema is rejected
with its path and the offending field: an operator's typo must never silently disable a detector.
"""

from __future__ import annotations

import fnmatch
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sensor import yamlfast
from sensor.errors import SignatureError

_STRICT = ConfigDict(extra="forbid", frozen=True)
MAX_IDENTIFIER_BYTES = 512  # longest span a pattern may claim; bounds the validators' work arrays
MAX_WINDOW_BYTES = 512  # context window limit: keywords further away say nothing about a value


class DataClass(StrEnum):
    """Legal classes of data, from least to most restricted.

    ``general_data`` (一般数据, GB/T 43697-2024) is for identifiers that are not personal
    information, such as enterprise credit codes: they are reported apart from personal findings so
    they neither raise an alert on their own nor its severity.
    """

    GENERAL = "general_data"
    PERSONAL = "personal_information"
    SENSITIVE_PERSONAL = "sensitive_personal_information"
    IMPORTANT = "important_data"
    CORE = "core_data"


class LocalizedName(BaseModel):
    model_config = _STRICT
    zh: str
    en: str


class MaskSpec(BaseModel):
    """How a value is shown in alerts; ``style`` picks a shape-aware masker (see masking.py)."""

    model_config = _STRICT
    keep_start: int = Field(0, ge=0)
    keep_end: int = Field(0, ge=0)
    style: Literal["middle", "email", "coordinates"] = "middle"


class Boundary(BaseModel):
    """Character classes that may not touch a value on its left and on its right."""

    model_config = _STRICT
    left: str
    right: str

    @field_validator("left", "right")
    @classmethod
    def _positive_class(cls, value: str) -> str:
        if not (value.startswith("[") and value.endswith("]")) or value.startswith("[^"):
            raise ValueError(f"must be a positive character class like [0-9]: {value}")
        if "\\n" in value or "\n" in value:
            raise ValueError("a boundary class may not contain the newline (the scan pads with it)")
        return value


HAN_CLASS = "[一-鿿]"  # CJK unified ideographs, as patterns write it (Python re semantics)
HAN_BYTES = r"(?:[\xe4-\xe9][\x80-\xbf][\x80-\xbf])"  # the same, as UTF-8 bytes


class PatternSpec(BaseModel):
    """One hyperscan expression of an identifier and how its start offset is found.

    hyperscan reports where a match ends; where it starts costs extra (start-of-match tracking is
    slow for patterns with unbounded repeats), so: a fixed ``length`` gives the start by subtraction;
    ``extend_left`` walks back over a character class from the end (an e-mail's local part); any
    other pattern is compiled with leftmost start-of-match reporting.
    """

    model_config = _STRICT
    regex: str = Field(min_length=1)
    length: int | tuple[int, int] = Field(description="bytes: fixed, or [min, max]")
    extend_left: str | None = None
    confidence: float = Field(0.9, ge=0.0, le=1.0)
    scan_runs: bool = Field(
        False,
        description="scan over the runs of its own bytes only (detectors/runscan.py)",
    )

    @model_validator(mode="after")
    def _lengths(self) -> PatternSpec:
        low, high = (self.length, self.length) if isinstance(self.length, int) else self.length
        if not 1 <= low <= high <= MAX_IDENTIFIER_BYTES:
            raise ValueError(f"length must satisfy 1 <= min <= max <= {MAX_IDENTIFIER_BYTES}")
        if self.extend_left is not None and not (
            self.extend_left.startswith("[") and self.extend_left.endswith("]")
        ):
            raise ValueError("extend_left must be a character class like [A-Za-z0-9]")
        return self

    @property
    def min_length(self) -> int:
        return self.length if isinstance(self.length, int) else self.length[0]

    @property
    def byte_regex(self) -> str:
        """The expression hyperscan compiles over bytes: the CJK ideograph class ``[一-鿿]``, which a
        byte matcher cannot take as written, becomes the UTF-8 byte sequences of U+4000..U+9FFF
        (validators narrow it further where that matters)."""
        return self.regex.replace(HAN_CLASS, HAN_BYTES)

    @property
    def max_length(self) -> int:
        return self.length if isinstance(self.length, int) else self.length[1]

    @property
    def start_mode(self) -> Literal["fixed", "extend_left", "som"]:
        if isinstance(self.length, int):
            return "fixed"
        return "extend_left" if self.extend_left else "som"


class ContextSpec(BaseModel):
    """Keywords near a value (or in its CSV column header) that raise or lower confidence."""

    model_config = _STRICT
    window_before: int = Field(48, ge=0, le=MAX_WINDOW_BYTES)
    window_after: int = Field(16, ge=0, le=MAX_WINDOW_BYTES)
    keywords: tuple[str, ...] = ()
    raise_by: float = Field(0.3, ge=0.0, le=1.0)
    negative_keywords: tuple[str, ...] = ()
    lower_by: float = Field(0.4, ge=0.0, le=1.0)


Structure = Literal["hex_token", "decimal_fragment", "letter_glued", "url_userinfo"]


class ExclusionSpec(BaseModel):
    """Valid values that are still not personal information here."""

    model_config = _STRICT
    keywords: tuple[str, ...] = Field((), description="reverse keywords: suppress in the window")
    values: tuple[str, ...] = Field((), description="allowlisted test values, normalised form")
    structures: tuple[Structure, ...] = ()


class IdentifierSpec(BaseModel):
    """One data identifier (format version 2), as loaded from a signature pack."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    format_version: Literal[2] = 2
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    version: int = Field(ge=1)
    enabled: bool = True
    name: LocalizedName
    data_class: DataClass = Field(alias="class")
    taxonomy: str
    basis: str
    patterns: tuple[PatternSpec, ...] = Field(min_length=1)
    boundary: Boundary
    validator: str
    individual_rank: int | None = Field(None, ge=1, le=9)
    individual_namespace: str | None = None
    keeps_inner: bool = False  # values of other identifiers inside this one's still count
    context: ContextSpec = Field(default_factory=ContextSpec)
    exclusions: ExclusionSpec = Field(default_factory=ExclusionSpec)
    minimum_confidence: float = Field(0.5, ge=0.0, le=1.0)
    mask: MaskSpec = Field(default_factory=MaskSpec)
    source: str = ""  # the file it came from, filled in by the loader

    @field_validator("boundary", mode="before")
    @classmethod
    def _one_class_for_both_sides(cls, value: Any) -> Any:
        return {"left": value, "right": value} if isinstance(value, str) else value

    @field_validator("validator")
    @classmethod
    def _known_validator(cls, value: str) -> str:
        from detectors.validators import VALIDATORS  # late: validators import this module's types

        if value not in VALIDATORS:
            raise ValueError(f"unknown validator {value!r}; one of {sorted(VALIDATORS)}")
        return value

    @property
    def rule(self) -> str:
        """How alerts cite this identifier: id@version."""
        return f"{self.id}@{self.version}"

    @property
    def namespace(self) -> str:
        """Which identifiers share one value space for counting people (legacy IDs are converted)."""
        return self.individual_namespace or self.id

    @property
    def max_length(self) -> int:
        return max(p.max_length for p in self.patterns)


class OverrideAdditions(BaseModel):
    model_config = _STRICT
    keywords: tuple[str, ...] = ()
    negative_keywords: tuple[str, ...] = ()
    exclusion_keywords: tuple[str, ...] = ()
    allowlist: tuple[str, ...] = ()


class OverrideSpec(BaseModel):
    """An operator's change to an identifier defined elsewhere (``override: <id>``)."""

    model_config = _STRICT
    format_version: Literal[2]
    override: str
    enabled: bool | None = None
    minimum_confidence: float | None = Field(None, ge=0.0, le=1.0)
    add: OverrideAdditions = Field(default_factory=OverrideAdditions)

    def apply(self, spec: IdentifierSpec) -> IdentifierSpec:
        context = spec.context.model_copy(
            update={
                "keywords": spec.context.keywords + self.add.keywords,
                "negative_keywords": spec.context.negative_keywords + self.add.negative_keywords,
            }
        )
        exclusions = spec.exclusions.model_copy(
            update={
                "keywords": spec.exclusions.keywords + self.add.exclusion_keywords,
                "values": spec.exclusions.values + self.add.allowlist,
            }
        )
        update: dict[str, Any] = {"context": context, "exclusions": exclusions}
        if self.enabled is not None:
            update["enabled"] = self.enabled
        if self.minimum_confidence is not None:
            update["minimum_confidence"] = self.minimum_confidence
        return spec.model_copy(update=update)


def migrate_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """A format-1 mapping rewritten as format 2: its one pattern becomes ``patterns[0]``."""
    out = {k: v for k, v in raw.items() if k not in ("pattern", "length", "format_version")}
    out["format_version"] = 2
    out["patterns"] = [{"regex": raw.get("pattern"), "length": raw.get("length")}]
    return out


def builtin_directory() -> Path:
    return Path(str(resources.files("signatures"))) / "identifiers"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yamlfast.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SignatureError(f"{path}: cannot read signature file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SignatureError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SignatureError(f"{path}: a signature file must be a YAML mapping")
    return raw


def _validate(path: Path, model: type[BaseModel], raw: dict[str, Any]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SignatureError(f"{path}: field '{where}': {first['msg']}") from None


def load_entry(path: Path) -> IdentifierSpec | OverrideSpec:
    """Load and validate one pack file; raises ``SignatureError`` naming the file and field."""
    raw = _read_yaml(path)
    version = raw.get("format_version")
    if version == 1:
        raw = migrate_v1(raw)
    elif version != 2:
        raise SignatureError(f"{path}: field 'format_version': must be 1 or 2, got {version!r}")
    if "override" in raw:
        return _validate(path, OverrideSpec, raw)  # type: ignore[no-any-return]
    return _validate(path, IdentifierSpec, {**raw, "source": str(path)})  # type: ignore[no-any-return]


def load_identifier(path: Path) -> IdentifierSpec:
    """Load one identifier definition (not an override)."""
    entry = load_entry(path)
    if isinstance(entry, OverrideSpec):
        raise SignatureError(f"{path}: is an override of {entry.override!r}, not a definition")
    return entry


def load_all(extra_directories: tuple[Path, ...] = ()) -> dict[str, IdentifierSpec]:
    """Every defined identifier, enabled or not, after operator replacements and overrides."""
    specs: dict[str, IdentifierSpec] = {}
    for directory in (builtin_directory(), *extra_directories):
        if not directory.is_dir():
            raise SignatureError(f"{directory}: signature directory does not exist")
        overrides: list[tuple[Path, OverrideSpec]] = []
        for path in sorted(directory.glob("*.yaml")):
            entry = load_entry(path)
            if isinstance(entry, OverrideSpec):
                overrides.append((path, entry))
            else:
                specs[entry.id] = entry  # an operator pack with the same id replaces the built-in
        for path, override in overrides:
            if override.override not in specs:
                raise SignatureError(f"{path}: overrides unknown identifier {override.override!r}")
            specs[override.override] = override.apply(specs[override.override])
    return specs


def load_catalogue(
    extra_directories: tuple[Path, ...] = (), disabled: frozenset[str] = frozenset()
) -> tuple[IdentifierSpec, ...]:
    """The active identifiers: built-ins plus operator packs, minus disabled ones, sorted by id.

    ``disabled`` holds ids or shell-style globs (``intl_*``); a plain id that names nothing is an
    error, because it is almost always a typo that leaves a detector running.
    """
    specs = load_all(extra_directories)
    unknown = {d for d in disabled if not any(ch in d for ch in "*?[")} - specs.keys()
    if unknown:
        raise SignatureError(f"signatures.disabled names unknown identifiers: {sorted(unknown)}")

    def off(key: str) -> bool:
        return any(fnmatch.fnmatchcase(key, pattern) for pattern in disabled)

    return tuple(spec for key, spec in sorted(specs.items()) if spec.enabled and not off(key))

"""The identifier catalogue: YAML signature packs, validated with pydantic.

A pack file that does not fit the schema is rejected with its path and the offending field, so an
operator's typo never silently disables a detector.
"""

from __future__ import annotations

from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sensor.errors import SignatureError


class DataClass(StrEnum):
    """Legal classes of data, from least to most restricted."""

    PERSONAL = "personal_information"
    SENSITIVE_PERSONAL = "sensitive_personal_information"
    IMPORTANT = "important_data"
    CORE = "core_data"


class LocalizedName(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    zh: str
    en: str


class MaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    keep_start: int = Field(ge=0)
    keep_end: int = Field(ge=0)


class IdentifierSpec(BaseModel):
    """One data identifier, as written in a signature pack."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    format_version: Literal[1]
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    version: int = Field(ge=1)
    name: LocalizedName
    data_class: DataClass = Field(alias="class")
    taxonomy: str
    basis: str
    pattern: str
    boundary: str
    length: int = Field(ge=1, le=256)
    validator: Literal["gb11643", "none"]
    mask: MaskSpec
    source: str = ""  # the file it came from, filled in by the loader

    @property
    def rule(self) -> str:
        """How alerts cite this identifier: id@version."""
        return f"{self.id}@{self.version}"


def builtin_directory() -> Path:
    return Path(str(resources.files("signatures"))) / "identifiers"


def load_identifier(path: Path) -> IdentifierSpec:
    """Load and validate one pack file; raises ``SignatureError`` naming the file and field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SignatureError(f"{path}: cannot read signature file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SignatureError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SignatureError(f"{path}: a signature file must be a YAML mapping")
    try:
        return IdentifierSpec.model_validate({**raw, "source": str(path)})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SignatureError(f"{path}: field '{where}': {first['msg']}") from None


def load_catalogue(
    extra_directories: tuple[Path, ...] = (), disabled: frozenset[str] = frozenset()
) -> tuple[IdentifierSpec, ...]:
    """All active identifiers: built-ins plus operator packs, minus the disabled ids."""
    specs: dict[str, IdentifierSpec] = {}
    for directory in (builtin_directory(), *extra_directories):
        if not directory.is_dir():
            raise SignatureError(f"{directory}: signature directory does not exist")
        for path in sorted(directory.glob("*.yaml")):
            spec = load_identifier(path)
            specs[spec.id] = spec  # an operator pack with the same id replaces the built-in
    unknown = disabled - specs.keys()
    if unknown:
        raise SignatureError(f"signatures.disabled names unknown identifiers: {sorted(unknown)}")
    return tuple(spec for key, spec in sorted(specs.items()) if key not in disabled)

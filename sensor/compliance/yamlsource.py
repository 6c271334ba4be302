"""YAML files validated by pydantic models, with errors that name the file and the line.

Processor profiles and policy packs are written by hand; a typo must stop the sensor with
``file:line: key: problem`` rather than silently drop a rule. The composed node tree gives every key
and list item its line, so a pydantic error location (keys and list indices) maps back to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sensor import yamlfast
from sensor.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)


class _Loader(yamlfast.SafeLoader):  # type: ignore[misc,valid-type]
    """SafeLoader that leaves dates as text: pydantic parses them and can name the line of a bad
    one (PyYAML's own date conversion raises a bare ValueError without a position)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yamlfast.SafeLoader.yaml_implicit_resolvers.items()
}


def line_at(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the node at ``loc`` (keys and list indices), or of its nearest parent."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


class YamlSource:
    """One parsed YAML file: its data and its node tree for line numbers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        try:
            self.data: Any = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
            self.root: yaml.Node | None = yamlfast.compose(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None

    def where(self, loc: tuple[int | str, ...]) -> str:
        line = line_at(self.root, loc)
        return f"{self.path}:{line}" if line else str(self.path)

    def error(self, loc: tuple[int | str, ...], message: str) -> ConfigError:
        key = ".".join(str(p) for p in loc)
        return ConfigError(f"{self.where(loc)}: {key}: {message}" if key else message)

    def validate(self, model: type[Model], extra: dict[str, Any] | None = None) -> Model:
        if not isinstance(self.data, dict):
            raise ConfigError(f"{self.path}: must be a YAML mapping")
        try:
            return model.model_validate({**self.data, **(extra or {})})
        except ValidationError as exc:
            error = exc.errors()[0]
            loc = tuple(p for p in error["loc"] if isinstance(p, int | str))
            # pydantic adds the union member or validator name to some locations: drop the tail
            # parts that are not in the file so the line still points at the field
            message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
            raise self.error(loc, message) from None

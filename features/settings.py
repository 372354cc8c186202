"""One optional YAML file configures every layer: read and checked once per process (the command
line's `--config`, or the server's SECTOR_HEATMAP_CONFIG), then each layer builds its own typed
settings from its section (FeatureConfig, TrainConfig, ServingConfig)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from features.errors import ConfigError

SECTIONS = ("features", "training", "serving")
T = TypeVar("T")


@dataclass(frozen=True)
class ConfigFile:
    path: Path | None = None
    sections: Mapping[str, dict] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str | Path | None) -> ConfigFile:
        """The file's sections, checked; no file gives every default."""
        if path is None:
            return cls()
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{p}: expected a mapping with sections {list(SECTIONS)}")
        unknown = set(raw) - set(SECTIONS)
        if unknown:
            raise ConfigError(f"{p}: unknown section(s) {sorted(unknown)}; expected {list(SECTIONS)}")
        for name, value in raw.items():
            if value is not None and not isinstance(value, dict):
                raise ConfigError(f"{p}: section {name!r} must be a mapping")
        return cls(p.resolve(), {k: dict(v or {}) for k, v in raw.items()})

    def section(self, name: str) -> dict:
        return dict(self.sections.get(name) or {})


def settings_from_mapping(
    cls: type[T],
    raw: Mapping[str, Any] | None,
    section: str,
    converters: Mapping[str, Callable[[Any], Any]] | None = None,
) -> T:
    """Build a settings dataclass from its YAML mapping; unknown keys are an error naming them.

    `converters` turn YAML lists into the tuples (or nested shapes) the dataclass declares.
    """
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"{section} config: expected a mapping, got {type(raw).__name__}")
    values = dict(raw or {})
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"{section} config: unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
    try:
        for key, convert in (converters or {}).items():
            if key in values:
                values[key] = convert(values[key])
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{section} config: {exc}") from None

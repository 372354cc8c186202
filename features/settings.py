"""One optional YAML file configures every layer; each layer reads only its own section."""
from __future__ import annotations

from pathlib import Path

import yaml

SECTIONS = ("features", "training", "serving")


def read_section(path: str | Path | None, section: str) -> dict:
    """The `section` mapping of the config file, or {} when no file is given."""
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"config file not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{p}: not valid YAML: {exc}") from None
    unknown = set(raw) - set(SECTIONS)
    if unknown:
        raise ValueError(f"{p}: unknown section(s) {sorted(unknown)}; expected {list(SECTIONS)}")
    value = raw.get(section) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{p}: section {section!r} must be a mapping")
    return value


def settings_from_mapping(cls, raw: dict | None, section: str, converters: dict | None = None):
    """Build a settings dataclass from its YAML mapping; unknown keys are an error naming them.

    `converters` turn YAML lists into the tuples (or nested shapes) the dataclass declares.
    """
    import dataclasses

    raw = dict(raw or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{section} config: unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
    for key, convert in (converters or {}).items():
        if key in raw:
            raw[key] = convert(raw[key])
    return cls(**raw)

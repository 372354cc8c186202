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

"""The project's own errors: what a user caused and can fix (bad input, config, data, no model).

The command line prints these as one line; anything else is a bug and keeps its traceback.
Each also derives from the builtin it replaced, so callers that catch ValueError still work.
"""

from __future__ import annotations


class SectorHeatmapError(Exception):
    """Base class: a clear message naming what is wrong and where."""


class ConfigError(SectorHeatmapError, ValueError):
    """A configuration file or setting that cannot be used (for a server: its own fault, a 5xx)."""


class RequestError(SectorHeatmapError, ValueError):
    """A request or command-line field that cannot be used; the message starts with the field's name."""


class DataError(SectorHeatmapError, ValueError):
    """Data that cannot answer the question asked (too short, nothing on that date, no benchmark)."""


class ModelError(SectorHeatmapError, RuntimeError):
    """A model that is missing, cannot be loaded or does not fit the data it is given."""


class SourceError(SectorHeatmapError, RuntimeError):
    """A source that cannot deliver usable data; the message says which and why."""

"""What no answer of the service may ever do, whatever it was sent (used by the fuzz and hardening tests).

- echo more than a short excerpt (serving.http_errors.EXCERPT_CHARS) of any string it was sent
- show a path of the server's file system (the repo, temporary folders, a traceback) or SQL text
- be an error (4xx/5xx) in any shape but the one error body (serving.schemas.ErrorResponse)
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

EXCERPT_CHARS = 40  # the most of a bad value an answer may quote (the service's own limit is the same)
REPO = str(Path(__file__).resolve().parents[2])
FILESYSTEM = [
    re.escape(REPO),
    re.escape(tempfile.gettempdir().rstrip("/") + "/"),
    r"/tmp/",
    r"/home/",
    r"/root/",
    r"site-packages",
    r"\.venv/",
    r"File \"[^\"]+\", line \d+",  # a traceback
]
SQL = [r"\bselect\b.{0,200}?\bfrom\b", r"\binsert\s+into\b", r"\bsqlite", r"sqlalchemy", r"OperationalError"]
LEAK = re.compile("|".join(f"(?:{p})" for p in FILESYSTEM + SQL), re.IGNORECASE | re.DOTALL)
# longest run of a sent string an answer may repeat: the excerpt, its quotes and a little slack
ECHO_LIMIT = EXCERPT_CHARS + 2


def sent_strings(*values) -> list[str]:
    """Every string (value or key) inside the JSON-like values sent, long enough to matter."""
    out: list[str] = []

    def walk(v, depth=0):
        if depth > 50:  # a deeply nested body: its strings are near the top anyway
            return
        if isinstance(v, str | bytes):
            s = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
            if len(s) > ECHO_LIMIT:
                out.append(s)
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(k, depth + 1)
                walk(x, depth + 1)
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x, depth + 1)

    for value in values:
        walk(value)
    return out


def echoed(sent: list[str], text: str) -> str | None:
    """A piece longer than ECHO_LIMIT of a sent string that `text` repeats (as is or JSON-escaped), else None."""
    n = ECHO_LIMIT + 1
    for s in sent:
        for start in {0, max(0, len(s) // 2 - n // 2), max(0, len(s) - n)}:
            piece = s[start : start + n]
            if len(piece) == n and (piece in text or json.dumps(piece)[1:-1] in text):
                return piece
    return None


def problems(status: int, headers, content: bytes, elapsed_s: float, sent: list[str], max_s: float = 1.0) -> list[str]:
    """Everything wrong with one answer (an empty list when nothing is)."""
    out = []
    if status >= 500:
        out.append(f"server error {status}")
    if elapsed_s > max_s:
        out.append(f"took {elapsed_s:.2f} s (limit {max_s} s)")
    content_type = headers.get("content-type", "")
    if content_type.startswith("image/"):
        return out
    text = content.decode("utf-8", "replace")
    if (piece := echoed(sent, text)) is not None:
        out.append(f"echoes {len(piece)}+ characters of the input: {piece[:20]!r}...")
    if (m := LEAK.search(text)) is not None:
        out.append(f"shows {m.group(0)[:60]!r}")
    if status >= 400:
        from serving.schemas import ErrorResponse

        try:
            ErrorResponse.model_validate_json(content)
        except ValueError as exc:
            out.append(f"error body is not an ErrorResponse ({type(exc).__name__}): {text[:120]!r}")
        if not content_type.startswith("application/json"):
            out.append(f"error content type {content_type!r}")
    return out

"""Validation findings: every repair or refusal is recorded with ticker, file and row, never silent."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from features.errors import SectorHeatmapError

ACTIONS = ("repaired", "dropped", "refused", "noted")


@dataclass(frozen=True)
class Finding:
    ticker: str
    kind: str  # what is wrong: stray_header, duplicate_date, unsorted, nonpositive_price, ...
    action: str  # one of ACTIONS: what we did about it
    detail: str  # one human sentence, with the values involved
    where: str = ""  # file path (csv) or source name (yfinance, demo)
    row: int | None = None  # 1-based line in the file, header being line 1
    date: str | None = None

    def __str__(self) -> str:
        loc = self.where + (f":{self.row}" if self.row is not None else "")
        when = f" {self.date}" if self.date else ""
        return f"[{self.action}] {self.ticker}{when} ({loc or 'n/a'}): {self.kind}: {self.detail}"


@dataclass
class ValidationReport:
    findings: list[Finding] = field(default_factory=list)

    def add(self, *args, **kwargs) -> None:
        finding = args[0] if args and isinstance(args[0], Finding) else Finding(*args, **kwargs)
        if finding.action not in ACTIONS:
            raise ValueError(f"unknown action {finding.action!r}")
        self.findings.append(finding)

    def extend(self, other: ValidationReport) -> None:
        self.findings.extend(other.findings)

    def by_action(self, action: str) -> list[Finding]:
        return [f for f in self.findings if f.action == action]

    @property
    def refused(self) -> list[Finding]:
        return self.by_action("refused")

    def to_records(self) -> list[dict]:
        return [asdict(f) for f in self.findings]

    def to_text(self, limit: int = 50) -> str:
        if not self.findings:
            return "validation: no problems found"
        lines = [f"validation: {len(self.findings)} finding(s)"]
        lines += [f"  {f}" for f in self.findings[:limit]]
        if len(self.findings) > limit:
            lines.append(f"  ... and {len(self.findings) - limit} more")
        return "\n".join(lines)


class DataValidationError(SectorHeatmapError, ValueError):
    """Data that cannot be repaired safely; carries the full report so nothing is lost."""

    def __init__(self, message: str, report: ValidationReport):
        super().__init__(message)
        self.report = report

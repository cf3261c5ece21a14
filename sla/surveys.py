"""Survey data as score histograms: exact, mergeable, and free of personal data.

A batch of survey answers (one channel, one import) is reduced to counts per score before it leaves the
importing process, so names, phone numbers and comments in a survey export never reach Temporal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from enum import Enum
from fractions import Fraction
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sla.errors import plain


class Scale(str, Enum):
    CSAT = "csat"  # 1-5, 4-5 satisfied
    NPS = "nps"  # 0-10, 9-10 promoters, 0-6 detractors
    CES = "ces"  # CES 2.0: 1-7 agreement with "the company made it easy", higher = easier

    @property
    def bounds(self) -> tuple[int, int]:
        return {Scale.CSAT: (1, 5), Scale.NPS: (0, 10), Scale.CES: (1, 7)}[self]


class SurveyChannel(str, Enum):
    """Where answers came from (000 §3.2: surveys by email/SMS link, website and social ratings, hotline and
    online service records; 003 §2.3.3: the annual third-party survey)."""

    EMAIL = "email"
    SMS = "sms"
    WEB = "web"
    SOCIAL = "social"
    HOTLINE = "hotline"
    THIRD_PARTY = "third-party"
    COMPLAINT = "complaint"  # feedback recorded on complaints after resolution (collected, never imported)


class SurveyError(ValueError):
    """Survey data that cannot be used; the message names the row and column."""


class ScoreHistogram(BaseModel):
    """Answers counted per score on one scale."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    scale: Scale
    counts: dict[int, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _in_range(self) -> ScoreHistogram:
        low, high = self.scale.bounds
        for score, count in self.counts.items():
            if not low <= score <= high:
                raise ValueError(f"{self.scale.value} score {score} outside {low}-{high}")
            if count < 0:
                raise ValueError(f"{self.scale.value} count for score {score} is negative")
        return self

    @staticmethod
    def of(scale: Scale, scores: Iterable[int]) -> ScoreHistogram:
        counts: dict[int, int] = {}
        for score in scores:
            counts[score] = counts.get(score, 0) + 1
        return ScoreHistogram(scale=scale, counts=counts)

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def merge(self, other: ScoreHistogram) -> ScoreHistogram:
        if other.scale is not self.scale:
            raise ValueError(f"cannot merge a {other.scale.value} histogram into a {self.scale.value} one")
        counts = dict(self.counts)
        for score, count in other.counts.items():
            counts[score] = counts.get(score, 0) + count
        return ScoreHistogram(scale=self.scale, counts={s: c for s, c in sorted(counts.items()) if c})

    def share(self, low: int, high: int) -> Fraction | None:
        """Exact share of answers scoring low..high (None without answers)."""
        if not self.n:
            return None
        return Fraction(sum(c for s, c in self.counts.items() if low <= s <= high), self.n)

    def mean(self) -> Fraction | None:
        if not self.n:
            return None
        return Fraction(sum(s * c for s, c in self.counts.items()), self.n)


def merge_all(scale: Scale, histograms: Iterable[ScoreHistogram | None]) -> ScoreHistogram:
    out = ScoreHistogram(scale=scale)
    for histogram in histograms:
        if histogram is not None:
            out = out.merge(histogram)
    return out


class SurveyBatch(BaseModel):
    """One import of survey answers for one assessment cycle and channel; deduplicated by `batch_id`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    batch_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    channel: SurveyChannel
    csat: ScoreHistogram | None = None
    nps: ScoreHistogram | None = None
    ces: ScoreHistogram | None = None
    # A third-party agency's overall satisfaction score on 0-100 (003 §2.3.3), when it reports one figure only.
    overall: float | None = Field(None, ge=0, le=100)
    agency: str | None = Field(None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _scales_match(self) -> SurveyBatch:
        for field in Scale:
            histogram = getattr(self, field.value)
            if histogram is not None and histogram.scale is not field:
                raise ValueError(f"{field.value}: histogram is on the {histogram.scale.value} scale")
        if self.channel is SurveyChannel.COMPLAINT:
            raise ValueError("channel 'complaint' is collected from complaints' feedback, not imported")
        if self.overall is not None and self.channel is not SurveyChannel.THIRD_PARTY:
            raise ValueError("overall: only a third-party agency reports an overall score")
        if not self.responses:
            raise ValueError("the batch holds no answers")
        return self

    @property
    def responses(self) -> int:
        answers = max((h.n for h in (self.csat, self.nps, self.ces) if h is not None), default=0)
        return max(answers, 1 if self.overall is not None else 0)

    def fingerprint(self) -> str:
        """Content hash: the same batch id with other content is a conflict, not a duplicate."""
        body = self.model_dump(mode="json", exclude={"batch_id"}, exclude_none=True)
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


SCORE_COLUMNS = {scale.value: scale for scale in Scale}


def batch_from_rows(
    rows: Iterable[Mapping[str, Any]], *, channel: SurveyChannel, batch_id: str
) -> SurveyBatch:
    """Reduce exported survey rows to histograms; every column but csat/nps/ces (any case) is dropped unread.

    Empty cells are unanswered questions; anything else must be a whole score on the column's scale.
    """
    scores: dict[Scale, list[int]] = {scale: [] for scale in Scale}
    seen_columns = False
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise SurveyError(f"row {number}: not a record of columns (a JSON import is a list of objects)")
        for column, raw in row.items():
            scale = SCORE_COLUMNS.get(str(column).strip().lower())
            if scale is None:
                continue  # personal or irrelevant column: never kept
            seen_columns = True
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            scores[scale].append(_score(raw, scale, number, column))
    if not seen_columns:
        raise SurveyError("no csat, nps or ces column found")
    histograms = {scale.value: ScoreHistogram.of(scale, values) if values else None for scale, values in scores.items()}
    try:
        return SurveyBatch(batch_id=batch_id, channel=channel, **histograms)
    except ValidationError as exc:
        raise SurveyError(plain(exc)) from None


def _score(raw: Any, scale: Scale, row: int, column: str) -> int:
    low, high = scale.bounds
    try:
        if isinstance(raw, bool):  # JSON true/false: float(True) would read as a score of 1
            raise TypeError
        value = float(raw)
        if value != int(value):
            raise ValueError
        score = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: 'inf', '1e400'
        raise SurveyError(f"row {row}, column {column!r}: {str(raw)[:20]!r} is not a whole score") from None
    if not low <= score <= high:
        raise SurveyError(f"row {row}, column {column!r}: {score} is outside the {scale.value} scale {low}-{high}")
    return score


def third_party_score(contract: str, period: str, score: float, agency: str) -> SurveyBatch:
    """An agency's overall score as the batch a cycle takes; one per agency and period (a repeat changes nothing,
    another score under the same agency is a conflict)."""
    key = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in agency.strip())[:80] or "agency"
    return SurveyBatch(batch_id=f"third-party-{period}-{key}", channel=SurveyChannel.THIRD_PARTY, overall=score,
                       agency=agency.strip())

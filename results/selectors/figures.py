"""The figures of the results — NPS, CSAT, CES and the response rate — worked out from counts that
add up (results.selectors.summary adds them per bucket, department and survey), and the standard
cut-offs that make an answer a promoter, a detractor or satisfied (results/services/rollups.py counts
with the same ones)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from surveys.models import FIXED_SCALES

# The standard cut-offs (PRODUCT.md §3): NPS 0–10 with promoters 9–10, passives 7–8, detractors 0–6;
# CSAT 1–5 with "satisfied" meaning 4 or 5. CES (1–7, 7 = easiest) is reported as its mean.
PROMOTER_MIN = 9
DETRACTOR_MAX = 6
CSAT_SATISFIED_MIN = 4
SCORED_KINDS = tuple(FIXED_SCALES)  # NPS, CSAT and CES
# Below this many answers a score swings with each one (one detractor alone is an NPS of −100): the
# dashboard marks such a score "few answers" rather than hide it.
FEW_ANSWERS = 30


@dataclass
class Figures:
    """The additive counts behind the figures. A figure is None when nothing was counted for it."""

    responses: int = 0
    invitations_sent: int = 0
    nps_answers: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    csat_answers: int = 0
    csat_satisfied: int = 0
    csat_score_total: int = 0
    ces_answers: int = 0
    ces_score_total: int = 0

    def add(self, counts: dict) -> None:
        for name, value in counts.items():
            setattr(self, name, getattr(self, name) + (value or 0))

    @property
    def nps(self) -> float | None:
        """% promoters − % detractors, from −100 to 100."""
        if not self.nps_answers:
            return None
        return 100 * (self.promoters - self.detractors) / self.nps_answers

    @property
    def csat_satisfied_percent(self) -> float | None:
        return 100 * self.csat_satisfied / self.csat_answers if self.csat_answers else None

    @property
    def csat_mean(self) -> float | None:
        return self.csat_score_total / self.csat_answers if self.csat_answers else None

    @property
    def ces_mean(self) -> float | None:
        return self.ces_score_total / self.ces_answers if self.ces_answers else None

    @property
    def nps_few_answers(self) -> bool:
        return 0 < self.nps_answers < FEW_ANSWERS

    @property
    def csat_few_answers(self) -> bool:
        return 0 < self.csat_answers < FEW_ANSWERS

    @property
    def ces_few_answers(self) -> bool:
        return 0 < self.ces_answers < FEW_ANSWERS

    @property
    def response_rate(self) -> float | None:
        """Responses per invitation sent in the same period, in percent. Responses to invitations sent
        before the period count too, so a short period can exceed 100."""
        return 100 * self.responses / self.invitations_sent if self.invitations_sent else None

    def as_dict(self) -> dict:
        counts = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.endswith("_total")}
        return {
            **counts,
            "nps": _rounded(self.nps, 1),
            "csat_satisfied_percent": _rounded(self.csat_satisfied_percent, 1),
            "csat_mean": _rounded(self.csat_mean, 2),
            "ces_mean": _rounded(self.ces_mean, 2),
            "response_rate": _rounded(self.response_rate, 1),
        }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)

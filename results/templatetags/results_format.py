"""How the results pages write a figure: "—" where nothing was counted, never "None" or "nan"."""

import math

from django import template
from django.template.defaultfilters import floatformat

register = template.Library()

NOTHING = "—"


@register.filter
def figure(value: float | None, digits: int = 0) -> str:
    """A number with `digits` decimals, or "—" when there is none."""
    if value is None:
        return NOTHING
    return floatformat(value, digits)


@register.filter
def percent(value: float | None, digits: int = 0) -> str:
    if value is None:
        return NOTHING
    return f"{floatformat(value, digits)} %"


@register.filter
def nps(value: float | None) -> str:
    """NPS as it is usually written: a whole number with its sign, +25 or −10."""
    if value is None:
        return NOTHING
    # Half away from zero, as people round (Python's round() would make 12.5 into 12).
    rounded = int(math.copysign(math.floor(abs(value) + 0.5), value))
    if rounded > 0:
        return f"+{rounded}"
    return f"−{-rounded}" if rounded < 0 else "0"

"""The demo's consent: a few opt-outs, a department opt-out and snoozes among the new contacts of
contacts/demo.py, as the customers' own links and the providers' bounces would have recorded them."""

from __future__ import annotations

import datetime as dt
import random

from django.utils import timezone

from contacts.models import Consent
from departments.models import Department


def demo_consents(contact_ids: list[int], departments: dict[str, Department], *, rng: random.Random) -> int:
    """A few opt-outs, a department opt-out and snoozes among the new contacts; returns how many."""
    now = timezone.now()
    consents = []
    for contact_id in contact_ids:
        roll = rng.random()
        if roll < 0.03:
            consents.append(Consent(kind=Consent.Kind.OPT_OUT, source=Consent.Source.UNSUBSCRIBE_LINK))
        elif roll < 0.06:
            consents.append(
                Consent(
                    kind=Consent.Kind.OPT_OUT,
                    source=Consent.Source.PREFERENCE_CENTRE,
                    department=departments["marketing"],
                    channel="email",
                )
            )
        elif roll < 0.07:
            consents.append(Consent(kind=Consent.Kind.OPT_OUT, source=Consent.Source.BOUNCE, channel="email"))
        elif roll < 0.09:
            until = now + dt.timedelta(days=rng.randrange(7, 90))
            consents.append(
                Consent(kind=Consent.Kind.SNOOZE, source=Consent.Source.PREFERENCE_CENTRE, until=until)
            )
        else:
            continue
        consents[-1].contact_id = contact_id
        consents[-1].recorded_by = "demo"
        consents[-1].created_at = now - dt.timedelta(days=rng.randrange(1, 60))
    Consent.objects.bulk_create(consents, batch_size=2000)
    return len(consents)

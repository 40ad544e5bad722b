# A screening batch's counted touches, probed per contact by (contact, time): built concurrently, under
# a lock_timeout (cxfeedback/migration_ops.py), so triggers and screenings keep writing invitations.

from django.db import migrations, models

from cxfeedback.migration_ops import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("surveys", "0021_decisions_partitioned_by_month"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="invitation",
            index=models.Index(
                condition=models.Q(("status__in", ["cancelled", "failed"]), _negated=True),
                fields=["contact", "touched_at"],
                name="invitation_counted_by_contact",
            ),
        ),
    ]

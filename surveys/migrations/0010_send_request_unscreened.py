# The first index built the way cxfeedback/migration_ops.py asks for on the history tables:
# concurrently, under a lock_timeout, so triggers keep writing send requests meanwhile.

from django.db import migrations, models

from cxfeedback.migration_ops import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("surveys", "0009_heartbeat"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="sendrequest",
            index=models.Index(
                condition=models.Q(("status", "submitted")),
                fields=["submitted_at"],
                name="send_request_unscreened",
            ),
        ),
    ]

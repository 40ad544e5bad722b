# Heartbeats of the Celery worker and beat (cxfeedback/heartbeats.py): one row per kind of process,
# rewritten in place every HEARTBEAT_INTERVAL. Logged (unlike the rate-limit counters): after a
# crash an emptied table would make /readyz report both dead until their next beat.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0008_public_ids"),
    ]

    operations = [
        migrations.RunSQL(
            """
            CREATE TABLE heartbeat (
                process varchar(20) PRIMARY KEY,
                seen_at timestamptz NOT NULL
            )
            """,
            "DROP TABLE heartbeat",
        ),
    ]

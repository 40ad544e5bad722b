# The public pages' rate-limit counters (cxfeedback/rate_limit.py): one row per scope and client,
# rewritten in place each request. UNLOGGED: no WAL for counters; a crash empties the table, which
# only forgives the current window.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0003_responses"),
    ]

    operations = [
        migrations.RunSQL(
            """
            CREATE UNLOGGED TABLE rate_limit_counter (
                scope varchar(20) NOT NULL,
                client varchar(100) NOT NULL,
                window_start bigint NOT NULL,
                hits integer NOT NULL,
                PRIMARY KEY (scope, client)
            )
            """,
            "DROP TABLE rate_limit_counter",
        ),
    ]

"""Decisions partitioned by their send request's month (surveys/gatekeeper/decision_partitions.py).

PostgreSQL cannot turn a table into a partitioned one, so this makes a new partitioned table, with
a partition for every month the decisions held and the current month and the next two, copies the
decisions into it and drops the old table, all in one transaction. Screenings and triggers wait for
it: 42 s for 10 million decisions on a 2-core machine (README, "Running at scale"); an install with
many more runs it in a maintenance window. It cannot be undone.
"""

from django.db import migrations, models

from surveys.gatekeeper.decision_partitions import MONTH_ENSURE_FUNCTION_SQL, REQUEST_MONTH_SQL

MONTH = REQUEST_MONTH_SQL.format(created_at="r.created_at")

PARTITION_SQL = f"""
ALTER TABLE surveys_decision RENAME TO surveys_decision_unpartitioned;
ALTER INDEX surveys_decision_pkey RENAME TO surveys_decision_unpartitioned_pkey;
ALTER INDEX decision_contact_time RENAME TO decision_contact_time_unpartitioned;
ALTER INDEX decision_decided_brin RENAME TO decision_decided_brin_unpartitioned;
ALTER TABLE surveys_decision_unpartitioned
    RENAME CONSTRAINT decision_one_per_contact TO decision_one_per_contact_unpartitioned;

CREATE TABLE surveys_decision (
    LIKE surveys_decision_unpartitioned INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS,
    request_month date NOT NULL,
    CONSTRAINT surveys_decision_pkey PRIMARY KEY (id, request_month),
    CONSTRAINT decision_one_per_contact UNIQUE (send_request_id, contact_id, request_month)
) PARTITION BY RANGE (request_month);
CREATE INDEX decision_contact_time ON surveys_decision (contact_id, decided_at);
CREATE INDEX decision_decided_brin ON surveys_decision USING brin (decided_at);
CREATE TABLE surveys_decision_default PARTITION OF surveys_decision DEFAULT;

{MONTH_ENSURE_FUNCTION_SQL};

SELECT surveys_decision_month_ensure(month) FROM (
    SELECT DISTINCT {MONTH} AS month
    FROM surveys_decision_unpartitioned d JOIN surveys_sendrequest r ON r.id = d.send_request_id
    UNION
    SELECT generate_series(date_trunc('month', now() AT TIME ZONE 'UTC'),
                           date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months',
                           interval '1 month')::date
) months ORDER BY month;

-- A decision whose request is gone (none should be) keeps its own month.
INSERT INTO surveys_decision
SELECT d.*, coalesce({MONTH}, date_trunc('month', d.decided_at AT TIME ZONE 'UTC')::date)
FROM surveys_decision_unpartitioned d LEFT JOIN surveys_sendrequest r ON r.id = d.send_request_id;
SELECT setval(pg_get_serial_sequence('surveys_decision', 'id'),
              coalesce((SELECT max(id) FROM surveys_decision), 0) + 1, false);
DROP TABLE surveys_decision_unpartitioned;
ANALYZE surveys_decision;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0020_time_ordered_public_ids"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(PARTITION_SQL)],
            state_operations=[
                migrations.AddField(
                    model_name="decision",
                    name="request_month",
                    field=models.DateField(editable=False),
                ),
                migrations.RemoveConstraint(model_name="decision", name="decision_one_per_contact"),
                migrations.AddConstraint(
                    model_name="decision",
                    constraint=models.UniqueConstraint(
                        fields=["send_request", "contact", "request_month"], name="decision_one_per_contact"
                    ),
                ),
            ],
        ),
    ]

"""Time-ordered (version 7) UUIDs for the public ids of send requests, invitations and external
touches (cxfeedback/uuids.py): new ids go to the end of their unique indexes instead of all over
them. Only the columns' defaults change; the ids already given stay as they are."""

import uuid6
from django.db import migrations, models

import cxfeedback.uuids

MODELS = ("sendrequest", "invitation", "externaltouch")


def public_id():
    return models.UUIDField(
        db_default=cxfeedback.uuids.TimeOrderedUUID(), default=uuid6.uuid7, editable=False, unique=True
    )


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0019_audience_upload_jobs"),
    ]

    operations = [
        migrations.RunSQL(cxfeedback.uuids.UUID_V7_FUNCTION_SQL, reverse_sql="DROP FUNCTION uuid_v7()"),
        # The default alone: the state's AlterField would do the same, but the migration check
        # (cxfeedback/migration_lint.py) cannot tell it from one that builds the unique index again.
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f"ALTER TABLE surveys_{model} ALTER COLUMN public_id SET DEFAULT uuid_v7()",
                    reverse_sql=f"ALTER TABLE surveys_{model} ALTER COLUMN public_id SET DEFAULT gen_random_uuid()",
                )
                for model in MODELS
            ],
            state_operations=[
                migrations.AlterField(model_name=model, name="public_id", field=public_id())
                for model in MODELS
            ],
        ),
    ]

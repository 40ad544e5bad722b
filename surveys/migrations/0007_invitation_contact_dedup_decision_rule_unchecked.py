"""Cheaper bulk screening writes (issue 3's benchmark): a deduplicated contact index on invitations
instead of (contact, touched_at), and no database check of a decision's rule (see the models)."""

import django.contrib.postgres.indexes
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0006_results_time_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="invitation",
            index=django.contrib.postgres.indexes.BTreeIndex(
                fields=["contact"], fillfactor=70, name="invitation_contact"
            ),
        ),
        migrations.RemoveIndex(model_name="invitation", name="invitation_contact_touches"),
        migrations.AlterField(
            model_name="decision",
            name="rule",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="surveys.frequencyrule",
            ),
        ),
    ]

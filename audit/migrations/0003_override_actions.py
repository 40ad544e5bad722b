# The audit log records overrides of frequency rules (issue 15): requested, approved, applied.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_merge_actions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("rule_created", "Frequency rule created"),
                    ("rule_changed", "Frequency rule changed"),
                    ("consent_recorded", "Consent recorded"),
                    ("contact_erased", "Contact erased"),
                    ("contacts_merged", "Contacts merged"),
                    ("contacts_unmerged", "Contacts unmerged"),
                    ("merge_proposed", "Merge proposed"),
                    ("override_requested", "Override of a frequency rule requested"),
                    ("override_approved", "Override of a frequency rule approved"),
                    ("override_applied", "Override of a frequency rule applied"),
                ],
                max_length=30,
            ),
        ),
    ]

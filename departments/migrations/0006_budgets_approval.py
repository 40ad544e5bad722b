# Reserved for budgets and approval; filled in with its operations.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("departments", "0005_company_settings_follow_ups_wait"),
    ]

    operations = []

# Reserved for import jobs; filled in with its operations.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0007_accounts"),
    ]

    operations = []

# Reserved for external touches; filled in with its operations.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0013_overrides"),
    ]

    operations = []

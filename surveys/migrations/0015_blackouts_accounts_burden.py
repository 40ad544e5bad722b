# Reserved for blackouts, account caps, burden; filled in with its operations.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0014_external_touches"),
    ]

    operations = []

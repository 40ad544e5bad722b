# Reserved for overrides; filled in with its operations.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0012_rule_simulations"),
    ]

    operations = []

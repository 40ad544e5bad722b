# Reserved for rule simulations; filled in with its operations.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0011_approvals_budgets"),
    ]

    operations = []

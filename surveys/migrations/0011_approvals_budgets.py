# Reserved for approvals and budgets; filled in with its operations.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0010_send_request_unscreened"),
    ]

    operations = []

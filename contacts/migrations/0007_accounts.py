# Reserved for accounts and households; filled in with its operations.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0006_emails_nfc_keep_sharp_s"),
    ]

    operations = []

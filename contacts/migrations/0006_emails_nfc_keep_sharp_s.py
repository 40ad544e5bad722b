"""Email identities stored before emails were read in NFC and lower-cased instead of case-folded
(contacts/normalise.py): their normalised form is written again from the address as given.

Only addresses with a non-ASCII character can differ. An address whose new form another identity
already has (the same person typed in NFD and in NFC, once each: two contacts) keeps its old form:
joining the two is a merge, for a CX lead. An erased identity keeps only a digest of its old form,
which cannot be recomputed.
"""

from django.db import migrations


def renormalise(apps, schema_editor):
    # The current function, not a frozen copy: its job is to make stored forms agree with it.
    from contacts.errors import InvalidIdentity
    from contacts.normalise import normalise_email

    Identity = apps.get_model("contacts", "Identity")
    for identity in Identity.objects.filter(kind="email").exclude(value__regex=r"^[\x00-\x7f]*$").iterator():
        try:
            normalised = normalise_email(identity.value)
        except InvalidIdentity:
            continue
        taken = Identity.objects.filter(kind="email", source="", normalised=normalised).exists()
        if normalised != identity.normalised and not taken:
            Identity.objects.filter(pk=identity.pk).update(normalised=normalised)


class Migration(migrations.Migration):
    dependencies = [("contacts", "0005_merges_duplicates_regions")]

    operations = [migrations.RunPython(renormalise, migrations.RunPython.noop)]

"""Emails stored before NFC and before ß was kept apart from ss get their normalised form written
again (contacts/migrations/0006), unless that would join two contacts."""

import importlib
import unicodedata

from django.apps import apps

from tests import factories

migration = importlib.import_module("contacts.migrations.0006_emails_nfc_keep_sharp_s")


def test_old_forms_are_written_again_but_never_join_two_contacts(db):
    sharp = factories.IdentityFactory(kind="email", value="Weiß@Firma.de", normalised="weiss@firma.de")
    decomposed = unicodedata.normalize("NFD", "josé@example.com")
    nfd = factories.IdentityFactory(kind="email", value=decomposed, normalised=decomposed)
    # Someone already holds the NFC form: the NFD record stays as it was (a merge, not an update).
    taken = factories.IdentityFactory(kind="email", value="rené@example.com", normalised="rené@example.com")
    clash = factories.IdentityFactory(
        kind="email", value=unicodedata.normalize("NFD", "rené@example.com"), normalised="rene-old"
    )
    plain = factories.IdentityFactory(kind="email", value="Ann@Example.com", normalised="ann@example.com")

    migration.renormalise(apps, None)

    for identity in (sharp, nfd, taken, clash, plain):
        identity.refresh_from_db()
    assert sharp.normalised == "weiß@firma.de"
    assert nfd.normalised == "josé@example.com"
    assert (taken.normalised, clash.normalised) == ("rené@example.com", "rene-old")
    assert plain.normalised == "ann@example.com"

"""Contacts belong to an account (a company or household), named by its external id: through the
contacts API, the CSV import and the admin. A department learns nothing of accounts it did not name
nor of who else is in them."""

from contacts.models import Account, Contact

CONTACTS = "/api/v1/contacts"


def upsert(client, email, **fields):
    return client.post(CONTACTS, {"identities": [{"kind": "email", "value": email}], **fields}, format="json")


def test_upsert_puts_the_contact_in_an_account_created_on_first_use(support_api):
    first = upsert(support_api, "ann@acme.example.com", account="CRM-ACME")
    second = upsert(support_api, "bob@acme.example.com", account=" CRM-ACME ")
    listed = support_api.get(CONTACTS, {"account": "CRM-ACME"})

    assert first.status_code == 201, first.json()
    assert first.json()["account"] == "CRM-ACME"
    assert second.json()["account"] == "CRM-ACME"
    assert Account.objects.get().external_id == "CRM-ACME"
    assert {c["id"] for c in listed.json()["results"]} == {first.json()["id"], second.json()["id"]}


def test_an_upsert_without_account_keeps_it_and_an_empty_one_takes_the_contact_out(support_api):
    upsert(support_api, "ann@acme.example.com", account="CRM-ACME")

    kept = upsert(support_api, "ann@acme.example.com", name="Ann")
    removed = upsert(support_api, "ann@acme.example.com", account="")

    assert kept.json()["account"] == "CRM-ACME"
    assert removed.json()["account"] is None
    assert Contact.objects.get().account is None


def test_a_too_long_account_id_is_refused_naming_the_field(support_api):
    response = upsert(support_api, "ann@acme.example.com", account="x" * 201)

    assert response.status_code == 400
    assert "account" in str(response.json())
    assert not Contact.objects.exists()


def test_another_department_sees_no_account_it_did_not_name(support_api, marketing_api):
    upsert(support_api, "ann@acme.example.com", account="CRM-ACME")
    upsert(support_api, "bob@acme.example.com", account="CRM-ACME")

    # Marketing knows Ann too, and asks for the account by its id: nothing tells it Support's.
    known = upsert(marketing_api, "ann@acme.example.com", name="Ann")
    listed = marketing_api.get(CONTACTS, {"account": "CRM-ACME"})
    unknown = marketing_api.get(CONTACTS, {"account": "CRM-NOBODY"})

    assert known.json()["account"] is None
    assert listed.status_code == 200 and listed.json()["results"] == []
    assert unknown.json() == listed.json()


def test_naming_an_existing_account_answers_as_naming_a_new_one(support_api, marketing_api):
    upsert(support_api, "ann@acme.example.com", account="CRM-ACME")

    existing = upsert(marketing_api, "carl@acme.example.com", account="CRM-ACME")
    new = upsert(marketing_api, "dora@other.example.com", account="CRM-OTHER")
    listed = marketing_api.get(CONTACTS, {"account": "CRM-ACME"})

    def shape(body):
        return {
            key: value
            for key, value in body.items()
            if key not in {"id", "identities", "created_at", "updated_at", "account", "views"}
        }

    assert existing.status_code == new.status_code == 201
    assert shape(existing.json()) == shape(new.json())
    # Marketing sees in the account the person it put there, never Support's Ann.
    assert [c["id"] for c in listed.json()["results"]] == [existing.json()["id"]]
    # One account for the company: a per-account cap counts both departments' people.
    assert Contact.objects.filter(account__external_id="CRM-ACME").count() == 2


def test_a_department_cannot_take_a_contact_out_of_an_account_it_did_not_name(support_api, marketing_api):
    upsert(support_api, "ann@acme.example.com", account="CRM-ACME")

    answer = upsert(marketing_api, "ann@acme.example.com", account="")

    assert answer.json()["account"] is None
    assert Contact.objects.get().account.external_id == "CRM-ACME"


def test_a_cx_lead_sees_every_contacts_account(support_api, lead_api):
    created = upsert(support_api, "ann@acme.example.com", account="CRM-ACME")

    seen = lead_api.get(f"{CONTACTS}/{created.json()['id']}")

    assert seen.json()["account"] == "CRM-ACME"


# The import's account column


def import_csv(department, text: str):
    import io

    from contacts.importing import contact_import_run
    from departments.actors import Actor

    return contact_import_run(
        department=department,
        file=io.BytesIO(text.encode()),
        actor=Actor(department_ids=frozenset({department.pk})),
        filename="contacts.csv",
    )


def test_the_import_puts_each_row_in_the_account_its_cell_names(support, support_api):
    import_csv(
        support,
        "email,account\n"
        "ann@acme.example.com,CRM-ACME\n"
        "bob@acme.example.com,CRM-ACME\n"
        "cat@home.example.com,HH-7\n"
        "dan@none.example.com,\n",
    )

    listed = support_api.get(CONTACTS, {"account": "CRM-ACME"})
    members = {account.external_id: account.contacts.count() for account in Account.objects.all()}

    assert members == {"CRM-ACME": 2, "HH-7": 1}
    assert listed.json()["count"] == 2
    assert Contact.objects.filter(account=None).count() == 1


def test_the_import_joins_existing_accounts_and_reports_a_too_long_one_by_row_and_column(support, marketing):
    import_csv(marketing, "email,account\neve@acme.example.com,CRM-ACME\n")

    result = import_csv(
        support, f"email,Account\nann@acme.example.com,CRM-ACME\nbob@acme.example.com,{'x' * 201}\n"
    )

    assert Account.objects.get().contacts.count() == 2
    issue = result.contact_import.issues.get()
    assert (issue.row_number, issue.column) == (3, "Account")
    assert "200" in issue.reason

"""The admin is branded "<company> · cxfeedback" (cxfeedback alone while unnamed), not
"Django administration", on its pages and in the tab title."""

import re

from departments.models import CompanySettings


def test_the_admin_names_cxfeedback_not_django(alice_client, client):
    home = alice_client.get("/admin/").content.decode()
    login = client.get("/admin/login/").content.decode()

    for page in (home, login):
        assert "Django administration" not in page and "Django site admin" not in page
        assert '<div id="site-name"><a href="/admin/">cxfeedback</a></div>' in page
    assert re.search(r"<title>cxfeedback \| cxfeedback</title>", home)


def test_the_admin_header_and_tab_title_name_the_company_once_it_has_a_name(alice_client, client):
    CompanySettings.objects.update_or_create(pk=1, defaults={"company_name": "Acme Telecom"})

    home = alice_client.get("/admin/").content.decode()
    login = client.get("/admin/login/").content.decode()

    for page in (home, login):
        assert '<div id="site-name"><a href="/admin/">Acme Telecom · cxfeedback</a></div>' in page
    assert re.search(r"<title>cxfeedback \| Acme Telecom · cxfeedback</title>", home)

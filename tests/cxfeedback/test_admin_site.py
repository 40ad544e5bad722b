"""The admin is branded cxfeedback, not "Django administration", on its pages and in the tab title."""

import re


def test_the_admin_names_cxfeedback_not_django(alice_client, client):
    home = alice_client.get("/admin/").content.decode()
    login = client.get("/admin/login/").content.decode()

    for page in (home, login):
        assert "Django administration" not in page and "Django site admin" not in page
        assert '<div id="site-name"><a href="/admin/">cxfeedback</a></div>' in page
    assert re.search(r"<title>cxfeedback \| cxfeedback</title>", home)

"""A contact import the API or the admin queued, run to its end in the test's own process (and
transaction) as a worker would run it: contacts/importing/jobs.py."""

import re

from contacts.importing.jobs import contact_import_job_run
from surveys.gatekeeper.audience_uploads import audience_upload_run
from surveys.models import AudienceUpload


def job_finished(client, response):
    """POST /contacts/import's (or a send request's /audience) answer → the job's state once a worker
    has run it (GET its URL).
    Any answer but 202 is returned as it is."""
    if response.status_code != 202:
        return response
    body = response.json()
    if "contact_import" in body:  # an audience upload's job, which runs its contact import itself
        audience_upload_run(upload_id=AudienceUpload.objects.get(public_id=body["id"]).pk)
    else:
        contact_import_job_run(import_id=body["id"])
    return client.get(response["Location"])


def admin_job_finished(client, response):
    """The admin's answer to an upload or a confirm (a redirect to the job's progress page) → the page
    it leads to once a worker has run the job (the preview or the result), followed."""
    assert response.status_code == 302, response.content.decode()[:2000]
    match = re.search(r"/import/(\d+)/progress/$", response["Location"])
    if match:
        contact_import_job_run(import_id=int(match[1]))
    return client.get(response["Location"], follow=True)

"""Uploaded contact files and per-row reports hold names and addresses: they are kept only as long
as someone may still confirm a preview or download a report (IMPORT_FILE_RETENTION_DAYS)."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.utils import timezone

from contacts.importing.services import import_directory
from contacts.models import ContactImport

logger = logging.getLogger(__name__)


def import_files_purge(*, now: dt.datetime | None = None) -> int:
    """Delete import files older than the retention period; return how many were deleted.

    Files are judged by their own age, so a file whose import row was never written (a crash between
    the upload and the database) goes too. The imports that pointed at them forget the paths: their
    preview can no longer be confirmed ("upload it again") and their report is no longer offered.
    """
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.IMPORT_FILE_RETENTION_DAYS)
    directory = import_directory()
    deleted = 0
    if directory.is_dir():
        for path in directory.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff.timestamp():
                path.unlink(missing_ok=True)
                deleted += 1
    ContactImport.objects.filter(created_at__lt=cutoff).exclude(stored_file="", report_file="").update(
        stored_file="", report_file=""
    )
    if deleted:
        logger.info("Deleted %d contact import files older than %s", deleted, cutoff.date())
    return deleted

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from predictions.audit_lifecycle import ArchiveRefused, audit_month_archive, audit_months_due


def _month(text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise CommandError(f"--month: {text!r} is not YYYY-MM") from None


class Command(BaseCommand):
    help = (
        "Archive closed months of the prediction audit (PostgreSQL): each month's partition is exported to "
        "Parquet under AUDIT_ARCHIVE_ROOT, recorded with its sha256, then detached and dropped. Without --month, "
        "every month older than AUDIT_RETENTION_MONTHS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--month", action="append", default=[], help="YYYY-MM (repeatable): archive this month")
        parser.add_argument("--dry-run", action="store_true", help="only list the months that would be archived")

    def handle(self, *args: Any, **options: Any) -> None:
        months = [_month(text) for text in options["month"]] or audit_months_due()
        if not months:
            self.stdout.write("nothing to archive")
            return
        for month in months:
            if options["dry_run"]:
                self.stdout.write(f"would archive {month:%Y-%m}")
                continue
            try:
                archive = audit_month_archive(month=month, archived_by="archive_prediction_audits")
            except ArchiveRefused as error:
                raise CommandError(str(error)) from error
            self.stdout.write(f"archived {month:%Y-%m}: {archive.rows} rows, {archive.path} sha256 {archive.sha256}")

"""Derive the formation and end-of-line values of cells from the cycler files already stored."""

from typing import Any

from django.core.management.base import BaseCommand

from datasets.cycler_services import cycler_files_derive


class Command(BaseCommand):
    help = (
        "Read every current cycler file of a cell (formation, aging and end-of-line parameters) and record "
        "the values it gives: none again when unchanged, a new version where a value changed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = cycler_files_derive(actor=None)
        for problem in result.problems:
            self.stderr.write(problem)
        self.stdout.write(f"Read {result.files} cycler files; recorded {result.recorded} values.")

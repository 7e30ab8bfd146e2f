"""load_catalog: create or update the parameter catalog from measurements/catalog.csv (safe to rerun)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import DomainError
from measurements.catalog import DEFAULT_PATH, catalog_load


class Command(BaseCommand):
    help = "Load the parameter catalog into the database: new codes are created, changed rows updated (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", type=Path, default=DEFAULT_PATH, help="The catalog CSV (default: %(default)s).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = catalog_load(path=options["path"])
        except DomainError as exc:
            problems = "\n".join(f"  {where}: {'; '.join(messages)}" for where, messages in exc.errors.items())
            raise CommandError(f"{exc.message}\n{problems}" if problems else exc.message) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Parameter catalog version {result.version}: {result.created} created, "
                f"{result.updated} updated, {result.unchanged} unchanged."
            )
        )
        for code in result.updated_codes:
            self.stdout.write(f"  updated {code}")
        if result.not_in_file:
            self.stdout.write(f"{result.not_in_file} parameter(s) not in the file were kept.")

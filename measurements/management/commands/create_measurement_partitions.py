"""Create the measurement table's monthly partitions ahead (PostgreSQL; idempotent).

Run it from cron or a scheduler at least once a month with a horizon longer than that period
(`migrate` runs it too, with the default horizon). A value beyond the horizon is still stored,
in the default partition (measurements.partitioning)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connections, transaction

from measurements.partitioning import MONTHS_AHEAD, MONTHS_BACK, is_partitioned, partitions_ensure


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--months-ahead", type=int, default=MONTHS_AHEAD)
        parser.add_argument("--months-back", type=int, default=MONTHS_BACK)
        parser.add_argument("--database", default="default")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["months_ahead"] < 0 or options["months_back"] < 0:
            self.stderr.write("--months-ahead and --months-back must not be negative")
            raise SystemExit(2)
        connection = connections[options["database"]]
        if not is_partitioned(connection):
            self.stdout.write("The measurement table is not partitioned here (not PostgreSQL): nothing to do.")
            return
        with transaction.atomic(using=options["database"]):
            ensured, skipped = partitions_ensure(
                months_ahead=options["months_ahead"], months_back=options["months_back"], connection=connection
            )
        self.stdout.write(f"{len(ensured)} monthly partitions present: {', '.join(ensured)}")
        for name in skipped:
            self.stderr.write(f"{name} not created: the default partition holds rows of that month")

"""load_demo: a small pouch-cell pilot line, built through the services (see demo.line)."""

import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from demo.configuration import demo_configuration_record, demo_configuration_report
from demo.line import DemoLine, demo_actor
from demo.line_data import MARKER_STATION
from demo.report import demo_report
from measurements.models import Parameter
from traceability.models import Station


class Command(BaseCommand):
    help = "Load a small demo pilot line (24 pouch cells) through the services; does nothing if loaded."

    def handle(self, *args: Any, **options: Any) -> None:
        if not Parameter.objects.exists():
            call_command("load_catalog", stdout=self.stdout)
        if Station.objects.filter(code=MARKER_STATION).exists():
            with transaction.atomic():
                added = demo_configuration_record(actor=demo_actor())
            added_lines = demo_configuration_report(added)
            done = "added what was missing:" if added_lines else "nothing to do."
            self.stdout.write(f"The demo line is already loaded (station {MARKER_STATION} exists); {done}")
            for line in added_lines:
                self.stdout.write(f"  {line}")
            return
        began = time.monotonic()
        with transaction.atomic():
            summary = DemoLine(demo_actor()).build()
        headline, lines = demo_report(summary, time.monotonic() - began)
        self.stdout.write(self.style.SUCCESS(headline))
        for line in lines:
            self.stdout.write(line)

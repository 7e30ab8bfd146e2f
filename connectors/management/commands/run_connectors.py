"""`python manage.py run_connectors`: every enabled connector in one long-lived process."""

import asyncio
import gc
import logging
import signal
from typing import Any

from django.core.management.base import BaseCommand

from connectors.runner import Runner
from connectors.spool import Spool


class Command(BaseCommand):
    help = "Run every enabled connector; reload the configuration; exit 0 on SIGTERM or SIGINT."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--spool-dir", help="Spool directory (default CELLTRACE_CONNECTOR_SPOOL_DIR).")
        parser.add_argument("--spool-max-bytes", type=int, help="Spool bound in bytes.")

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("celltrace.connectors").setLevel(logging.INFO)
        spool = None
        if options.get("spool_dir"):
            from django.conf import settings

            limit = options.get("spool_max_bytes") or settings.CELLTRACE_CONNECTOR_SPOOL_MAX_BYTES
            spool = Spool(options["spool_dir"], limit)
        # Django, the drivers and the configuration live as long as the process: out of the cycle
        # collector's full passes, which otherwise walk them all while readings stream in.
        from connectors.drivers import mqtt  # noqa: F401 - imported now, so frozen with the rest

        gc.collect()
        gc.freeze()
        asyncio.run(self._main(Runner(spool=spool)))

    async def _main(self, runner: Runner) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stop.set)
        self.stdout.write("run_connectors: running (SIGTERM or Ctrl-C stops)")
        self.stdout.flush()
        await runner.run(stop)
        self.stdout.write(f"run_connectors: stopped {dict(runner.sink.outcomes)}")

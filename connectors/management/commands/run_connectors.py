"""`python manage.py run_connectors`: every enabled connector in one long-lived process, or in
`--processes N` (MQTT connectors shared between them, see connectors/processes.py)."""

import asyncio
import gc
import logging
import os
import signal
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from connectors.processes import PROCESSES_MAX, Shard, shard_spool, supervise
from connectors.runner import Runner

PARENT_CHECK_S = 1.0


class Command(BaseCommand):
    help = "Run every enabled connector; reload the configuration; exit 0 on SIGTERM or SIGINT."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--spool-dir", help="Spool directory (default CELLTRACE_CONNECTOR_SPOOL_DIR).")
        parser.add_argument("--spool-max-bytes", type=int, help="Spool bound in bytes.")
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help=f"Runner processes (1 to {PROCESSES_MAX}); MQTT connectors are shared between them.",
        )
        parser.add_argument("--shard", type=int, help="This process's index among --processes (set by the parent).")

    def handle(self, *args: Any, **options: Any) -> None:
        count = options["processes"]
        if not 1 <= count <= PROCESSES_MAX:
            raise CommandError(f"--processes: 1 to {PROCESSES_MAX}, not {count}.")
        if count > 1 and options.get("shard") is None:
            passed = [f"--spool-dir={options['spool_dir']}"] if options.get("spool_dir") else []
            if options.get("spool_max_bytes"):
                passed.append(f"--spool-max-bytes={options['spool_max_bytes']}")
            sys.exit(supervise(count, passed))
        shard = Shard(options.get("shard") or 0, count)
        if not 0 <= shard.index < count:
            raise CommandError(f"--shard: 0 to {count - 1}, not {shard.index}.")
        logging.getLogger("celltrace.connectors").setLevel(logging.INFO)
        spool = shard_spool(shard, base=options.get("spool_dir"), max_bytes=options.get("spool_max_bytes"))
        # Django, the drivers and the configuration live as long as the process: out of the cycle
        # collector's full passes, which otherwise walk them all while readings stream in.
        from connectors.drivers import mqtt  # noqa: F401 - imported now, so frozen with the rest

        gc.collect()
        gc.freeze()
        asyncio.run(self._main(Runner(spool=spool, shard=shard), supervised=options.get("shard") is not None))

    async def _main(self, runner: Runner, *, supervised: bool) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stop.set)
        watching = asyncio.create_task(_parent_watch(stop)) if supervised else None
        label = f"process {runner.shard.index} of {runner.shard.count}" if supervised else "running"
        self.stdout.write(f"run_connectors: {label} (SIGTERM or Ctrl-C stops)")
        self.stdout.flush()
        await runner.run(stop)
        if watching is not None:
            watching.cancel()
        self.stdout.write(f"run_connectors: stopped {dict(runner.sink.outcomes)}")


async def _parent_watch(stop: asyncio.Event) -> None:
    """A supervised process stops (committing what it holds) when its supervisor is gone."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_CHECK_S)
    stop.set()

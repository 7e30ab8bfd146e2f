#!/usr/bin/env python
"""`manage.py run_connectors` under yappi (every thread: the event loop, paho's network thread,
the storage thread), for the connector benchmarks: BENCH_PROFILE=<file> makes them start the
runner through this script, which writes the profile's top functions to <file> on SIGTERM.

yappi is not a project requirement: `.venv/bin/pip install yappi` to use it.
"""

import os
import sys

import yappi

sys.path.insert(0, os.getcwd())


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    yappi.set_clock_type("cpu")
    yappi.start()
    try:
        call_command("run_connectors")
    finally:
        yappi.stop()
        with open(sys.argv[1], "w") as out:
            stats = yappi.get_func_stats()
            stats.sort("ttot")
            stats.print_all(out=out, columns={0: ("name", 90), 1: ("ncall", 10), 2: ("tsub", 8), 3: ("ttot", 8)})
            out.write("\n--- by own time ---\n")
            stats.sort("tsub")
            stats.print_all(out=out, columns={0: ("name", 90), 1: ("ncall", 10), 2: ("tsub", 8), 3: ("ttot", 8)})
            yappi.get_thread_stats().print_all(out=out)


if __name__ == "__main__":
    main()

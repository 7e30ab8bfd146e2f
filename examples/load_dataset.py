"""Fetch the per-cell dataset over the API and load it: proves the table loads and its columns are typed.

    .venv/bin/python examples/load_dataset.py http://127.0.0.1:8000 $TOKEN

Starts an export (`POST /api/exports/`), polls it until done, downloads the Parquet file and reads
it with pyarrow; prints the schema and the shape. Trains nothing. Needs only the standard library
and pyarrow (in requirements.txt).
"""

import argparse
import io
import json
import sys
import time
import urllib.request
from typing import Any

import pyarrow.parquet as pq


def call(url: str, token: str, body: dict[str, Any] | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the user's URL
        data: bytes = response.read()
        return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="e.g. http://127.0.0.1:8000")
    parser.add_argument("token", help="API token (manage.py create_api_user NAME --role engineer)")
    parser.add_argument("--granularity", choices=("cell", "sheet", "roll"), default="cell")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the export")
    args = parser.parse_args()
    api = args.base_url.rstrip("/") + "/api/exports/"

    export = json.loads(call(api, args.token, {"granularity": args.granularity, "format": "parquet"}))
    deadline = time.monotonic() + args.timeout
    while export["status"] not in ("done", "failed"):
        if time.monotonic() > deadline:
            print(f"export {export['id']} still {export['status']} after {args.timeout} s", file=sys.stderr)
            return 1
        time.sleep(1)
        export = json.loads(call(f"{api}{export['id']}/", args.token))
        print(f"export {export['id']}: {export['status']} {100 * (export['progress'] or 0):.0f} %", file=sys.stderr)
    if export["status"] == "failed":
        print(f"export {export['id']} failed: {export['error']}", file=sys.stderr)
        return 1

    table = pq.read_table(io.BytesIO(call(f"{api}{export['id']}/download/", args.token)))
    # With pandas installed (it is not in requirements.txt): frame = table.to_pandas()
    print(table.schema.to_string(show_schema_metadata=False))
    print(f"shape: {table.num_rows} rows x {table.num_columns} columns")
    return 0


if __name__ == "__main__":
    sys.exit(main())

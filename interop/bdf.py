"""The cycling table of an export as Battery Data Format (`.bdf.parquet`), and its metadata.

BDF is the Battery Data Alliance's format for cycler time series: one column per quantity,
named by its label with the unit ("Voltage / V"), each an IRI of the BDF ontology
(github.com/battery-data-alliance/battery-data-format-ontology, 1.3.0, Apache-2.0). CellTrace's
own cycling table already uses the BDF machine names (`voltage_volt`); here they become the
labels, each field carries its IRI and QUDT unit, and a JSON-LD sidecar in the BattINFO shape
describes the file (sha256), the cells, the cycling tests and the cyclers.
"""

import hashlib
import io
import json
from pathlib import Path
from typing import IO, Any, NamedTuple

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from lots.identifiers import digital_link
from lots.ontology_terms import BATTERY_CYCLER, CYCLING_TEST
from measurements.models import Measurement

from .qudt import QUDT_UNIT

BDF = "https://w3id.org/battery-data-alliance/ontology/battery-data-format#"
BDF_ONTOLOGY = "https://w3id.org/battery-data-alliance/ontology/battery-data-format"
MEDIA_TYPE = "application/vnd.apache.parquet"


class BdfColumn(NamedTuple):
    native: str
    label: str  # the BDF skos:prefLabel, the column's name in the file
    notation: str  # the BDF skos:notation, the IRI's fragment
    unit: str  # QUDT unit local name, "" for a label without a unit
    type: pa.DataType


# Our step_index is the cycler's step number from its schedule: BDF's "Step ID" (step_id),
# not its deprecated "Step Index" (a counter of records within a step).
COLUMNS: tuple[BdfColumn, ...] = (
    BdfColumn("test_time_second", "Test Time / s", "test_time_second", "SEC", pa.float64()),
    BdfColumn("voltage_volt", "Voltage / V", "voltage_volt", "V", pa.float64()),
    BdfColumn("current_ampere", "Current / A", "current_ampere", "A", pa.float64()),
    BdfColumn("cycle_count", "Cycle Count / 1", "cycle_count", "NUM", pa.int64()),
    BdfColumn("step_index", "Step ID", "step_id", "", pa.int64()),
)
# Which cell a row is of: BDF has no term for it (a BDF file is one test); kept, without an IRI.
CELL = "cell"
NATIVE_SCHEMA = pa.schema([(c.native, c.type) for c in COLUMNS] + [(CELL, pa.string())])


def native_read(stream: IO[bytes], fmt: str) -> pa.Table:
    """The stored cycling table of an export (`fmt`: parquet, csv or json lines), as written."""
    if fmt == "parquet":
        table = pq.read_table(stream)
    elif fmt == "csv":
        options = pa_csv.ConvertOptions(column_types=dict(zip(NATIVE_SCHEMA.names, NATIVE_SCHEMA.types, strict=True)))
        table = pa_csv.read_csv(stream, convert_options=options)
    else:
        body = stream.read()
        if not body.strip():
            return NATIVE_SCHEMA.empty_table()
        table = pa_json.read_json(io.BytesIO(body), parse_options=pa_json.ParseOptions(explicit_schema=NATIVE_SCHEMA))
    return table.select(NATIVE_SCHEMA.names).cast(NATIVE_SCHEMA)


def bdf_schema() -> pa.Schema:
    fields = []
    for column in COLUMNS:
        metadata = {"iri": BDF + column.notation, "bdf_notation": column.notation}
        if column.unit:
            metadata["unit"] = QUDT_UNIT + column.unit
        fields.append(pa.field(column.label, column.type, metadata=metadata))
    fields.append(pa.field(CELL, pa.string()))
    columns = {column.label: BDF + column.notation for column in COLUMNS}
    return pa.schema(fields, metadata={"bdf.columns": json.dumps(columns), "bdf.ontology": BDF_ONTOLOGY})


def bdf_write(native: pa.Table, path: Path) -> str:
    """Writes `native` as BDF Parquet to `path`; returns the file's sha256."""
    schema = bdf_schema()
    table = pa.Table.from_arrays([native.column(name) for name in NATIVE_SCHEMA.names], schema=schema)
    pq.write_table(table, path, compression="zstd")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


CONTEXT: dict[str, Any] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dcterms": "http://purl.org/dc/terms/",
    "csvw": "http://www.w3.org/ns/csvw#",
    "spdx": "http://spdx.org/rdf/terms#",
    "sosa": "http://www.w3.org/ns/sosa/",
    "qudt": "http://qudt.org/schema/qudt/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


def _file_node(name: str, sha256: str, tests: list[str]) -> dict[str, Any]:
    columns: list[dict[str, Any]] = []
    for column in COLUMNS:
        entry: dict[str, Any] = {"csvw:name": column.label, "csvw:propertyUrl": {"@id": BDF + column.notation}}
        if column.unit:
            entry["qudt:hasUnit"] = {"@id": QUDT_UNIT + column.unit}
        columns.append(entry)
    columns.append({"csvw:name": CELL})
    return {
        "@id": f"urn:celltrace:file:{name}",
        "@type": "dcat:Distribution",
        "dcterms:title": name,
        "dcat:mediaType": MEDIA_TYPE,
        "dcterms:conformsTo": {"@id": BDF_ONTOLOGY},
        "spdx:checksum": {
            "@type": "spdx:Checksum",
            "spdx:algorithm": {"@id": "http://spdx.org/rdf/terms#checksumAlgorithm_sha256"},
            "spdx:checksumValue": sha256,
        },
        "csvw:tableSchema": {"csvw:column": {"@list": columns}},
        "sosa:isResultOf": [{"@id": test} for test in tests],
    }


def bdf_metadata(*, native: pa.Table, name: str, sha256: str) -> dict[str, Any]:
    """The sidecar of a BDF file: the file, and for each cell in it the cell (its kind's
    BattINFO class), its cycling test and the cyclers its cycler files name (one query)."""
    codes = sorted(set(native.column(CELL).to_pylist())) if native.num_rows else []
    files = (
        Measurement.objects.filter(item__code__in=codes, superseded_by__isnull=True)
        .exclude(file="")
        .select_related("item__kind")
        .order_by("item__code", "measured_at", "id")
    )
    cells: dict[str, dict[str, Any]] = {}
    instruments: dict[str, set[str]] = {}
    for measurement in files:
        item = measurement.item
        assert item is not None
        if item.code not in cells:
            kind = item.kind
            link = digital_link(code=item.code, gtin_item_reference=kind.gtin_item_reference, level=kind.level)
            cells[item.code] = {"@id": link, "dcterms:identifier": item.code}
            if kind.ontology_iri:
                cells[item.code]["@type"] = kind.ontology_iri
        if measurement.instrument:
            instruments.setdefault(item.code, set()).add(measurement.instrument)
    graph: list[dict[str, Any]] = []
    tests: list[str] = []
    for code, cell in cells.items():
        test = f"urn:celltrace:cycling-test:{len(tests) + 1}"
        tests.append(test)
        node: dict[str, Any] = {
            "@id": test,
            "@type": CYCLING_TEST,
            "rdfs:label": f"cycling of {code}",
            "sosa:hasFeatureOfInterest": {"@id": cell["@id"]},
        }
        cyclers = [
            {"@type": BATTERY_CYCLER, "rdfs:label": instrument} for instrument in sorted(instruments.get(code, ()))
        ]
        if cyclers:
            node["sosa:madeBySensor"] = cyclers
        graph += [cell, node]
    return {"@context": CONTEXT, "@graph": [_file_node(name, sha256, tests), *graph]}

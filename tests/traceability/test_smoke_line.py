import pytest

from tests.factories import build_line
from traceability.selectors import lineage_trace, roll_map


@pytest.mark.django_db
def test_a_cell_traces_back_to_its_supplier_lots(engineer, stations):
    line = build_line(engineer)
    cell = line.cells[0]
    genealogy = lineage_trace(item=cell)
    codes = {n.code for n in genealogy.nodes}
    assert line.lots["nmc"].code in codes
    assert line.coated_roll.code in codes
    stretches = {s.code: s for s in roll_map(item=line.sheets[0])}
    coated = stretches[line.coated_roll.code]
    # Sheet 0 is lane metres 10.0-10.5 = calendered metres 10.0-10.5; calendering 100 -> 104 m
    # unwound reversed, so coated metres 100 - 10.5*100/104 .. 100 - 10*100/104.
    assert coated.from_m == pytest.approx(100 - 10.5 * 100 / 104)
    assert coated.to_m == pytest.approx(100 - 10 * 100 / 104)

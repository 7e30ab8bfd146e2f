"""Any bytes as a CSV bulk upload: 201 or a 4xx naming what is wrong, never a 5xx, and nothing
stored from a refused body."""

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from measurements.models import Measurement

pytestmark = pytest.mark.django_db

URL = "/api/measurements/bulk/"
HEADER = b"parameter,value,unit,item,position_m,measured_at,source\n"
PIECES = st.sampled_from(
    [b",", b'"', b'""', b"\n", b"\r\n", b"\r", b"\x00", b"\xff", b"\xef\xbb\xbf", b"\xc3", b"x" * 5000]
)
BODIES = st.one_of(
    st.binary(max_size=200),
    st.lists(st.one_of(PIECES, st.binary(max_size=8)), max_size=20).map(lambda parts: HEADER + b"".join(parts)),
    st.text(max_size=100).map(lambda text: HEADER + text.encode()),
)


@given(BODIES, st.sampled_from(["text/csv", "text/csv; charset=latin-1", "text/csv; charset=nope"]))
@example(HEADER + b"mass_loading,1,g,CR\x00,1,2026-03-02T08:00:00Z,online\n", "text/csv")
@example(HEADER + b'"unterminated\n', "text/csv")
@example(b"\xff\xfe" + HEADER, "text/csv")
@example(HEADER + b"a," * 100000 + b"\n", "text/csv")
def test_any_csv_body_is_answered_without_a_server_error(operator_client: Any, body: bytes, content_type: str) -> None:
    before = Measurement.objects.count()
    response = operator_client.generic("POST", URL, body, content_type=content_type)
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        payload = response.json()
        assert payload["code"] and payload["detail"]
        assert Measurement.objects.count() == before

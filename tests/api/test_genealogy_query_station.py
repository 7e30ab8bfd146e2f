"""The genealogy query parameters, parsed by api.filters.GenealogyQuery."""

import pytest

from api.filters import genealogy_query
from core.errors import InvalidInput


def test_the_parameters_are_read_with_their_defaults() -> None:
    assert genealogy_query({}).__dict__ == {"depth": None, "kinds": set(), "edges": True}
    query = genealogy_query({"depth": "2", "kind": "cell,,stack", "edges": "FALSE"})
    assert (query.depth, query.kinds, query.edges) == (2, {"cell", "stack"}, False)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"depth": "-1"}, "depth", "depth is a whole number."),
        ({"depth": ""}, "depth", "depth is a whole number."),
        ({"depth": "²"}, "depth", "depth is a whole number."),  # a digit to str.isdigit, not to int()
        ({"edges": "yes"}, "edges", "edges is true or false."),
        ({"depth": "x", "edges": "yes"}, "depth", "depth is a whole number."),  # depth first
    ],
)
def test_a_bad_parameter_is_named(params: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        genealogy_query(params)
    assert (refused.value.message, list(refused.value.errors)) == (message, [field])

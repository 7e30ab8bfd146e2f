"""The ontology tables (lots.ontology_terms): each kind and step of the seed says its class, or
says it has none, exactly once; one class is always quoted under one label."""

import pytest

from lots.ontology_terms import (
    KIND_IRIS,
    KIND_TERMS,
    KINDS_WITHOUT_TERM,
    STEP_IRIS,
    STEP_PROCESS_IRIS,
    STEP_PROCESS_TERMS,
    STEP_TERMS,
    STEPS_WITHOUT_PROCESS_TERM,
    STEPS_WITHOUT_TERM,
    Term,
)
from lots.seed import KINDS, STEPS

TABLES = [
    (KIND_TERMS, KINDS_WITHOUT_TERM, KIND_IRIS, [kind.code for kind in KINDS]),
    (STEP_TERMS, STEPS_WITHOUT_TERM, STEP_IRIS, [code for code, _ in STEPS]),
    (STEP_PROCESS_TERMS, STEPS_WITHOUT_PROCESS_TERM, STEP_PROCESS_IRIS, [code for code, _ in STEPS]),
]


@pytest.mark.parametrize(("terms", "without", "iris", "seeded"), TABLES)
def test_every_seeded_subject_is_in_its_table_once(terms, without, iris, seeded):
    named = [term.subject for term in terms] + list(without)
    assert sorted(named) == sorted(seeded)
    assert iris == {term.subject: term.iri for term in terms} | dict.fromkeys(without, "")


def test_one_class_one_label():
    terms: list[Term] = [term for table in TABLES for term in table[0]]
    labels: dict[str, set[str]] = {}
    for term in terms:
        labels.setdefault(term.iri, set()).add(term.label)
    assert {iri: names for iri, names in labels.items() if len(names) > 1} == {}
    assert all(term.class_id.count("_") == 4 and term.label.isidentifier() for term in terms)

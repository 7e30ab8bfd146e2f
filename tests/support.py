"""What transactional tests share: putting back the rows that data migrations seeded, and
letting go of Celery's cached broker connections. And rows built once for a module's tests."""

import copy
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from lots.models import ItemKind
from lots.ontology_terms import KIND_IRIS, STEP_IRIS, STEP_PROCESS_IRIS
from lots.seed import KIND_DIMENSIONS, KINDS, STEPS
from tests.factories import stations_create, user_create
from traceability.models import Step

T = TypeVar("T")


def seed_kinds_and_steps() -> None:
    """transaction=True tests end with a TRUNCATE of every table, which also empties the item
    kinds (with their dimensions) and steps that data migrations seeded: put them back."""
    for spec in KINDS:
        defaults = {
            **spec._asdict(),
            "dimensions": KIND_DIMENSIONS.get(spec.code, []),
            "ontology_iri": KIND_IRIS.get(spec.code, ""),
        }
        ItemKind.objects.update_or_create(code=spec.code, defaults=defaults)
    for sequence, (code, name) in enumerate(STEPS, start=1):
        iris = {"ontology_iri": STEP_IRIS.get(code, ""), "process_iri": STEP_PROCESS_IRIS.get(code, "")}
        Step.objects.update_or_create(code=code, defaults={"name": name, "sequence": sequence, **iris})


@pytest.fixture(scope="module", autouse=True)
def reseed_after_the_last_truncate(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Import into a module of transactional tests: the modules after it find the seeds again."""
    yield
    with django_db_blocker.unblock():
        seed_kinds_and_steps()


def celery_connections_drop(app: Any) -> None:
    """Forget the app's pooled broker connections, so a changed broker URL takes effect. kombu
    keeps its pools in global registries keyed by broker: reset those too, or the next task sent
    to the same broker (even an eager one) finds the closed pool."""
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


def rows_for_every_test(django_db_blocker: Any, build: Callable[[], T]) -> Iterator[T]:
    """Django's setUpTestData for a module- or class-scoped fixture (`yield from` it): `build`
    writes once, inside a transaction rolled back after the last test. Each test's own `db`
    transaction nests in it as a savepoint, so what one test changes the next does not see."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
    try:
        with django_db_blocker.unblock():
            built = build()
        yield built
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def line_fixtures_for_the_module(build: Callable[[User], T]) -> tuple[Any, Any, Any, Any]:
    """`module_line, engineer, stations, line = line_fixtures_for_the_module(build)` in a test
    module: the conftest's `engineer` and `stations`, and `build(engineer)` as `line`, made once
    for the module instead of once per test. Each test gets deep copies, as setUpTestData gives,
    so an instance one test changes (refresh_from_db) is not what the next test sees."""

    @pytest.fixture(scope="module")
    def module_line(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[User, Any, T]]:
        def made() -> tuple[User, Any, T]:
            engineer = user_create("emil-engineer", "engineer")
            stations = stations_create(engineer)
            return engineer, stations, build(engineer)

        yield from rows_for_every_test(django_db_blocker, made)

    @pytest.fixture(name="engineer")
    def engineer_(db: Any, module_line: tuple[User, Any, T]) -> User:
        return copy.deepcopy(module_line[0])

    @pytest.fixture(name="stations")
    def stations_(db: Any, module_line: tuple[User, Any, T]) -> Any:
        return copy.deepcopy(module_line[1])

    @pytest.fixture(name="line")
    def line_(db: Any, module_line: tuple[User, Any, T]) -> T:
        return copy.deepcopy(module_line[2])

    return module_line, engineer_, stations_, line_

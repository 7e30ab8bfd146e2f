"""One rule for who sees which exports, and the split a request naming only its grouping gets."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from datasets.export_rules import exports_visible, split_default
from datasets.models import Export

pytestmark = pytest.mark.django_db


def _export(user: User) -> Export:
    return Export.objects.create(created_by=user, granularity="cell", format="csv", request_sha256=f"x{user.pk}")


def test_admins_see_every_export_others_their_own(operator: User, engineer: User, admin_user: User) -> None:
    mine, theirs = _export(engineer), _export(operator)
    assert list(exports_visible(engineer)) == [mine]
    assert set(exports_visible(admin_user)) == {mine, theirs}


def test_the_pages_follow_the_rule(operator: User, engineer: User, admin_user: User) -> None:
    export = _export(engineer)
    browser = Client()
    browser.force_login(admin_user)
    assert browser.get(f"/datasets/{export.pk}/").status_code == 200
    assert engineer.username.encode() in browser.get("/datasets/").content
    other = Client()
    other.force_login(operator)
    assert other.get(f"/datasets/{export.pk}/").status_code == 302  # not found: back to the list
    assert engineer.username.encode() not in other.get("/datasets/").content


def test_the_default_split_is_the_apis() -> None:
    assert split_default("slurry_batch") == {"by": "slurry_batch", "test": 0.2, "seed": 0}

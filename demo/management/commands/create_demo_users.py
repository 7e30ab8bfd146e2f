"""Demo users for `make run`: an operator and an engineer with passwords and API tokens."""

import secrets
from io import StringIO
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create (or rotate) the demo operator and engineer and print their credentials."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, role in (("demo-operator", "operator"), ("demo-engineer", "engineer")):
            password = secrets.token_urlsafe(9)
            out = StringIO()
            call_command("create_api_user", name, role=role, password=password, stdout=out)
            token = out.getvalue().strip().splitlines()[-1]
            self.stdout.write(f"{role:9} user {name}  password {password}  token {token}")

"""grant_app_role ROLE [--print]: give the app's login role exactly the privileges it needs.

Run as the owner of the tables (the role `migrate` runs as), after every `migrate`.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from audit.grants import RoleUnfit, app_role_grants


class Command(BaseCommand):
    help = "Grant a role (no superuser, owning no table) what the app needs; record tables stay append-only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role")
        parser.add_argument("--print", action="store_true", help="Print the statements instead of running them.")

    def handle(self, *args: Any, role: str, print: bool, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Roles and grants are PostgreSQL's; the SQLite demo has none.")
        try:
            statements = app_role_grants(role)
        except RoleUnfit as exc:
            raise CommandError(str(exc)) from None
        if print:
            self.stdout.write(";\n".join(statements) + ";")
            return
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(f"Granted {role} the app's privileges ({len(statements)} statements).")

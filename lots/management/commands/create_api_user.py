"""create_api_user NAME --role operator|engineer|admin: create or rotate; prints the token last."""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token

from audit.services import audit_record

ROLES = ("operator", "engineer", "admin")


class Command(BaseCommand):
    help = "Create (or rotate the token of) an API user with a role; prints the token last."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--role", choices=ROLES, required=True)
        parser.add_argument("--password", help="Also set a password for the web pages.")

    @transaction.atomic
    def handle(self, *args: Any, name: str, role: str, password: str | None, **options: Any) -> None:
        user, created = get_user_model().objects.get_or_create(username=name)
        user.groups.set([Group.objects.get_or_create(name=role)[0]])
        user.is_staff = role in ("engineer", "admin")  # engineers browse the admin
        user.is_superuser = role == "admin"
        if password:
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        user.save()
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
        audit_record(
            actor=None,
            action="user.create" if created else "user.rotate_token",
            entity="user",
            entity_id=name,
            after={"role": role},
        )
        self.stdout.write(f"{'Created' if created else 'Updated'} {role} {name}.")
        self.stdout.write(token.key)

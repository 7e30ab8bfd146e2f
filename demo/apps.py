from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The top floor: the demo line, built through every domain app's services; no app imports it."""

    name = "demo"
    verbose_name = "Demo pilot line"

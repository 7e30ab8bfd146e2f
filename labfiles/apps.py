from django.apps import AppConfig


class LabfilesConfig(AppConfig):
    name = "labfiles"
    verbose_name = "Lab files"

from django.apps import AppConfig


class ValuesConfig(AppConfig):
    name = "values"
    default_auto_field = "django.db.models.BigAutoField"

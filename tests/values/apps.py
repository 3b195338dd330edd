from django.apps import AppConfig


class ValuesConfig(AppConfig):
    name = "tests.values"
    label = "values"
    default_auto_field = "django.db.models.AutoField"

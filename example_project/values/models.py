"""The talk's data-binding model (slide 35): a named integer."""

from django.db import models


class IntegerValue(models.Model):
    name = models.CharField(max_length=100, unique=True)
    value = models.IntegerField(default=0)

    def __str__(self):
        return f"{self.name} = {self.value}"

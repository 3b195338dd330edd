"""Models bound to streams by the channels features tests."""

from django.db import models


class IntegerValue(models.Model):
    """The talk's slide 35 model: a named integer."""

    name = models.CharField(max_length=100, unique=True)
    value = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class Note(models.Model):
    """A note owned by a user, in one of several rooms (for group moves and members)."""

    room = models.CharField(max_length=50)
    text = models.CharField(max_length=200)
    secret = models.CharField(max_length=50, default="")
    owner = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL)

    def shout(self) -> str:
        return self.text.upper()

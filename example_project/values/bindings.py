"""The talk's IntegerValueBinding (slide 35), as written there."""

from channels.binding.websockets import WebsocketBinding

from .models import IntegerValue


class IntegerValueBinding(WebsocketBinding):
    model = IntegerValue
    stream = "intval"
    fields = ["name", "value"]

    def group_names(self, instance, action):
        return ["intval-updates"]

    def has_permission(self, user, action, pk):
        return True

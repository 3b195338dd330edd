"""URLs for the test suite's Django project."""

urlpatterns: list = []

"""Build script of the channels-classic distribution (configuration in pyproject.toml)."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(
        include=[
            "asgi",
            "asgi.*",
            "asgi_redis",
            "asgi_redis.*",
            "daphne",
            "daphne.*",
            "channels",
            "channels.*",
        ]
    ),
    include_package_data=True,
)

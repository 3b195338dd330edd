"""``--log-format json``: the formatter daphne and runworker share."""

from __future__ import annotations

import io
import json
import logging

import pytest

from asgi._json_log import JsonFormatter, formatter_for

pytestmark = pytest.mark.unit


@pytest.fixture
def logged():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.json_log")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False

    def lines():
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield logger, lines
    logger.removeHandler(handler)


def test_each_record_is_one_json_object_with_time_level_logger_and_message(logged):
    logger, lines = logged
    logger.warning("Dropped %d on %s", 3, "http.request")
    logger.info("multi\nline")
    first, second = lines()
    assert first["level"] == "WARNING" and first["logger"] == "tests.json_log"
    assert first["message"] == "Dropped 3 on http.request"
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert second["message"] == "multi\nline"


def test_extra_fields_are_top_level_keys_and_standard_attributes_are_not(logged):
    logger, lines = logged
    logger.warning("drop", extra={"reason": "channel_full", "channel": None, "count": 2})
    (line,) = lines()
    assert (line["reason"], line["channel"], line["count"]) == ("channel_full", None, 2)
    assert not {"args", "msg", "pathname", "lineno", "levelno"} & set(line)


def test_a_traceback_is_kept_as_text_in_exc_info(logged):
    logger, lines = logged
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("failed")
    (line,) = lines()
    assert "RuntimeError: boom" in line["exc_info"]


def test_values_json_cannot_encode_are_written_as_their_repr(logged):
    logger, lines = logged
    logger.info("x", extra={"thing": {1, 2}})
    assert lines()[0]["thing"] == repr({1, 2})


def test_an_unknown_log_format_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="text, json.*'xml'"):
        formatter_for("xml", "%(message)s")


def test_the_text_format_uses_the_given_pattern():
    record = logging.LogRecord("n", logging.INFO, "", 0, "hello %s", ("you",), None)
    assert formatter_for("text", "%(levelname)s %(message)s").format(record) == "INFO hello you"

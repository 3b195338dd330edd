"""Read the layer page's tables out of its HTML (what a person would see)."""

from __future__ import annotations

from html.parser import HTMLParser


class _Tables(HTMLParser):
    """Collects, per table id, each body row's attributes and cell texts by class."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict]] = {}
        self.table: str | None = None
        self.in_body = False
        self.row: dict | None = None
        self.cell: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self.table = attributes.get("id")
            self.tables.setdefault(self.table, [])
        elif tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body:
            self.row = {"attrs": attributes, "cells": {}}
        elif tag in ("td", "th") and self.row is not None:
            self.cell = (attributes.get("class") or "").split(" ")[-1] or tag
            self.text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row["cells"][self.cell] = " ".join("".join(self.text).split())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[self.table].append(self.row)
            self.row = None
        elif tag == "tbody":
            self.in_body = False
        elif tag == "table":
            self.table = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.text.append(data)


def tables(html: str) -> dict[str, list[dict]]:
    """``{table id: [{"attrs": {...}, "cells": {last class: text}}, ...]}``."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def rows_by(html: str, table: str, attribute: str) -> dict[str, dict]:
    """The body rows of ``table`` keyed by their ``attribute`` (e.g. data-channel)."""
    return {
        row["attrs"][attribute]: row for row in tables(html)[table] if attribute in row["attrs"]
    }

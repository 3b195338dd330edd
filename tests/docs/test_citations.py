"""Docstrings and comments cite the documentation, and what they cite exists.

Code points readers at ``docs/<page>.rst, "<section>"``; a page renamed or a
section retitled would leave those pointers dangling, so every one is checked
here. References to documents outside the repository (the numbered sections
of a specification kept elsewhere) are not allowed at all.
"""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    path
    for package in ("asgi", "asgi_redis", "daphne", "channels", "tests", "benchmarks")
    for path in (ROOT / package).rglob("*.py")
)
CITATION = re.compile(r'docs/([\w/.-]+\.rst)(?:,\s+"([^"]+)")?')
OUTSIDE = re.compile(r"\bSPEC\b(?: section)? ?\d|\bSTYLE \d|\bARCHITECTURE\b")
UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")


def section_titles(page: Path) -> set[str]:
    """Every title in ``page``: a line followed by a line of one repeated mark."""
    lines = page.read_text().splitlines()
    return {
        lines[i - 1].strip().strip("`")
        for i in range(1, len(lines))
        if UNDERLINE.match(lines[i]) and lines[i - 1].strip()
    }


def citations() -> list[tuple[str, str, str | None]]:
    found = []
    for path in SOURCES:
        text = re.sub(r"\s*\n\s*#?\s*", " ", path.read_text())  # rejoin wrapped lines
        for match in CITATION.finditer(text):
            found.append((str(path.relative_to(ROOT)), match[1], match[2]))
    return found


def test_citations_name_pages_and_sections_that_exist():
    found = citations()
    assert len(found) > 50  # the check reads the sources at all
    missing = []
    for source, page, section in found:
        path = ROOT / "docs" / page
        if not path.is_file():
            missing.append(f"{source}: docs/{page} does not exist")
        elif section is not None and section not in section_titles(path):
            missing.append(f'{source}: docs/{page} has no section "{section}"')
    assert not missing, "\n".join(missing)


def test_no_source_cites_a_document_outside_the_repository():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in SOURCES
        if path != Path(__file__)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not offenders, "\n".join(offenders)

"""The README and docs/ link only to pages and files that exist."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    targets = [t.split("#")[0] for t in LINK.findall(page.read_text()) if "://" not in t]
    missing = [t for t in targets if t and not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


def test_every_docs_page_is_indexed():
    index = (ROOT / "docs" / "index.md").read_text()
    unlisted = [p.name for p in PAGES[1:] if p.name != "index.md" and f"({p.name})" not in index]
    assert not unlisted, f"docs/index.md does not list {unlisted}"

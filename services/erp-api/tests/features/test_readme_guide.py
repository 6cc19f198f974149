"""The README's "Adding a feature" guide quotes the customers feature and the kit as they are."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import erp_api.features.customers
import erp_db.models

README = Path(__file__).parents[2] / "README.md"
SECTION = "## Adding a feature: customers as the example"
SOURCES = [
    *Path(erp_api.features.customers.__file__).parent.glob("*.py"),
    *Path(erp_db.models.__file__).parent.glob("*.py"),
]


def guide_snippets() -> list[str]:
    text = README.read_text(encoding="utf-8")
    assert SECTION in text
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return [textwrap.dedent(block) for block in re.findall(r"```python\n(.*?)```", section, flags=re.S)]


def test_the_guide_has_snippets() -> None:
    assert len(guide_snippets()) >= 4


def test_every_snippet_of_the_guide_is_quoted_from_the_code() -> None:
    sources = [textwrap.dedent(path.read_text(encoding="utf-8")) for path in SOURCES]
    missing = [
        snippet
        for snippet in guide_snippets()
        if not any(snippet in source or textwrap.indent(snippet, "    ") in source for source in sources)
    ]
    assert missing == []

"""RELIABILITY.md names, for each promise, a test that exists: a renamed or removed test makes
this fail, so the document cannot drift from the suite."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_REFERENCE = re.compile(r"`([a-z_/]+\.py)(?:::([a-z0-9_]+))?`")


def test_every_test_named_in_reliability_md_exists() -> None:
    text = (ROOT / "RELIABILITY.md").read_text()
    references = _REFERENCE.findall(text)
    assert len(references) >= 20
    for path, name in references:
        source = ROOT / "tests" / path
        assert source.is_file(), path
        if name:
            assert re.search(rf"^(async )?def {name}\(", source.read_text(), re.M), (path, name)

"""docs/import.md is the format written out: every file, column and code, as the code has them."""

from __future__ import annotations

import re
from pathlib import Path

from trustflow.importing.format import FILES, ImportCode

DOC = (Path(__file__).resolve().parents[2] / "docs" / "import.md").read_text(encoding="utf-8")


def _documented_files() -> dict[str, list[tuple[str, bool]]]:
    files: dict[str, list[tuple[str, bool]]] = {}
    for section in DOC.split("\n### ")[1:]:
        name = re.match(r"`(\w+)`", section)
        assert name is not None
        rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (yes)? \|", section, flags=re.M)
        files[name.group(1)] = [(column, required == "yes") for column, required in rows]
    return files


def test_every_file_and_column_of_the_format_is_documented_as_it_is() -> None:
    expected = {f.name: [(c.name, c.required) for c in f.columns] for f in FILES}

    assert _documented_files() == expected


def test_every_code_is_documented() -> None:
    codes = set(re.findall(r"^\| `(\w+)` \| ", DOC.split("## Codes", 1)[1], flags=re.M))

    assert codes == {c.value for c in ImportCode}

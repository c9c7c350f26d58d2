"""docs/import.md is the format written out: every file, column and code, as the code has them,
for version 2 and for what version 1 reads otherwise."""

from __future__ import annotations

import re
from pathlib import Path

from trustflow.importing.format import FILES, FILES_V1, ImportCode

DOC = (Path(__file__).resolve().parents[2] / "docs" / "import.md").read_text(encoding="utf-8")
FILES_PART = DOC.split("## Files and columns", 1)[1].split("## Codes", 1)[0]
VERSION_2, VERSION_1 = FILES_PART.split("## Version 1", 1)


def _documented_files(part: str) -> dict[str, list[tuple[str, bool]]]:
    files: dict[str, list[tuple[str, bool]]] = {}
    for section in part.split("\n### ")[1:]:
        name = re.match(r"`(\w+)`", section)
        assert name is not None
        rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (yes)? \|", section, flags=re.M)
        assert name.group(1) not in files, f"{name.group(1)} documented twice"
        files[name.group(1)] = [(column, required == "yes") for column, required in rows]
    return files


def test_every_file_and_column_of_the_format_is_documented_as_it_is() -> None:
    expected = {f.name: [(c.name, c.required) for c in f.columns] for f in FILES}

    assert _documented_files(VERSION_2) == expected
    assert list(_documented_files(VERSION_2)) == [f.name for f in FILES]  # in writing order


def test_every_file_version_1_reads_otherwise_is_documented_as_it_is() -> None:
    current = {f.name: f for f in FILES}
    expected = {
        f.name: [(c.name, c.required) for c in f.columns]
        for f in FILES_V1
        if current.get(f.name) != f
    }

    assert _documented_files(VERSION_1) == expected
    assert set(expected) == {"orders", "reviews", "after_sales"}


def test_every_code_is_documented() -> None:
    codes = set(re.findall(r"^\| `(\w+)` \| ", DOC.split("## Codes", 1)[1], flags=re.M))

    assert codes == {c.value for c in ImportCode}

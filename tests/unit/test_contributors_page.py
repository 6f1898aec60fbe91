"""The contributors' page (docs/explanation/contributors.rst) tells the truth
about kit's layers: its table is the import-linter contract in pyproject.toml,
in order, and names every subpackage of kit/ with its job, and no other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "explanation" / "contributors.rst"


def page_rows(text: str) -> list[tuple[str, str, str]]:
    """(layer, subpackage, job) for each row of the page's list-table whose header is Layer | Subpackage | Its job."""
    table = text.split(".. list-table::", 1)[1]
    rows = re.findall(r"^   \* - (.*)\n     - (.*)\n     - (.*)$", table, re.M)
    assert rows and rows[0] == ("Layer", "Subpackage", "Its job"), "the layers table's header is Layer | Subpackage | Its job"
    return [(layer.strip(), package.strip().strip("`"), job.strip()) for layer, package, job in rows[1:]]


def layers_of(rows: list[tuple[str, str, str]]) -> list[str]:
    """The rows grouped by layer number, top first, written as import-linter writes a layer ("kit.a | kit.b")."""
    numbers = [int(layer) for layer, _, _ in rows]
    assert numbers == sorted(numbers), "the table lists the layers top first"
    return [" | ".join(package for layer, package, _ in rows if int(layer) == n) for n in dict.fromkeys(numbers)]


def contract_layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return layers


def subpackages() -> set[str]:
    return {f"kit.{path.parent.name}" for path in (ROOT / "kit").glob("*/__init__.py")}


def check_page(text: str) -> None:
    rows = page_rows(text)
    on_page = [package for _, package, _ in rows]
    assert len(on_page) == len(set(on_page)), "each subpackage has one row"
    assert sorted(subpackages() - set(on_page)) == [], "a subpackage of kit/ the page does not name"
    assert sorted(set(on_page) - subpackages()) == [], "the page names a subpackage kit/ does not have"
    assert [package for _, package, job in rows if len(job.split()) < 4] == [], "each subpackage's job, in a line"
    assert layers_of(rows) == contract_layers(), "the page's layers are pyproject.toml's [tool.importlinter] layers"


def test_the_page_matches_the_contract_and_the_code():
    check_page(PAGE.read_text())


def test_the_page_is_in_the_docs_table_of_contents():
    assert "   explanation/contributors\n" in (ROOT / "docs" / "index.rst").read_text()


def test_the_contract_names_every_subpackage_once():
    """What the page is checked against is itself whole: no subpackage outside the layers, none twice."""
    named = [package.strip() for layer in contract_layers() for package in layer.split("|")]
    assert sorted(named) == sorted(subpackages())


def _row(package: str, text: str) -> str:
    return re.search(rf"^   \* - \d+\n     - ``{re.escape(package)}``\n     - .*\n", text, re.M).group(0)


@pytest.mark.parametrize("change, problem", [
    ("swap two layers", "the page's layers are"),
    ("drop a subpackage", "the page does not name"),
    ("name one kit/ lacks", "kit/ does not have"),
    ("no job", "job"),
])
def test_a_wrong_page_fails(change, problem):
    """The check fails, saying why, for each way the page can drift from the code."""
    text = PAGE.read_text()
    if change == "swap two layers":
        text = text.replace("``kit.cli``", "``kit.swap``").replace("``kit.ops``", "``kit.cli``").replace("``kit.swap``", "``kit.ops``")
    elif change == "drop a subpackage":
        text = text.replace(_row("kit.mirror", text), "")
    elif change == "name one kit/ lacks":
        text = text.replace(_row("kit.mirror", text), _row("kit.mirror", text) + "   * - 3\n     - ``kit.extra``\n     - What no package does.\n")
    else:
        text = text.replace(_row("kit.plugin", text), "   * - 5\n     - ``kit.plugin``\n     - \n")
    with pytest.raises(AssertionError, match=problem):
        check_page(text)

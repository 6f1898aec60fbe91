"""The tests mirror kit/: every module kit/<layer>/<module>.py has a test file
tests/unit/<layer>/test_<module>.py or tests/integration/<layer>/test_<module>.py,
and no test module imports another (what tests share lives in tests/support/)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Modules with no test file of their own yet, and where they are proven now.
#: Shrink this list as files are written; never add filler tests to empty it.
WITHOUT_OWN_TEST_FILE = {
    "cli/cluster.py": "kit up/down/status/logs run in integration/cluster/ (test_lifecycle.py...); refusals in unit/cli/test_hostile.py",
    "cli/mirror.py": "kit mirror sync/verify/status run in integration/mirror/ (test_sync.py, test_verify.py, test_status.py...)",
    "cli/ops.py": "each command run in integration/ops/ (test_check.py, test_bench.py, test_drill.py...); refusals in unit/cli/test_hostile.py",
    "core/errors.py": "every refusal test (unit/site/test_validate.py, unit/cli/test_hostile.py, ...)",
    "mirror/progress.py": "only a type and the no-op default; what sync and verify say is in integration/mirror/",
    "ops/sample.py": "make_wheel under every fixture (tests/conftest.py); kit sample in integration/cli/test_init.py",
}


def kit_modules() -> set[str]:
    return {str(p.relative_to(ROOT / "kit")) for p in (ROOT / "kit").glob("*/*.py")
            if p.name not in ("__init__.py", "__main__.py")}


def has_test_file(module: str) -> bool:
    layer, name = module.split("/")
    return any((ROOT / "tests" / kind / layer / f"test_{name}").exists() for kind in ("unit", "integration"))


def test_every_kit_module_has_a_test_file_laid_out_like_it():
    missing = sorted(m for m in kit_modules() if not has_test_file(m) and m not in WITHOUT_OWN_TEST_FILE)
    assert not missing, f"no tests/unit/<layer>/test_<module>.py or tests/integration/... for {missing}"


def test_the_allowance_names_only_modules_that_exist_and_still_lack_a_file():
    stale = sorted(m for m in WITHOUT_OWN_TEST_FILE if m not in kit_modules() or has_test_file(m))
    assert not stale, f"remove from WITHOUT_OWN_TEST_FILE: {stale}"


def test_no_test_module_imports_another():
    offenders = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests.") \
                    and node.module.split(".")[-1].startswith("test_"):
                offenders.append(f"{path.relative_to(ROOT)} imports {node.module}")
    assert not offenders, offenders

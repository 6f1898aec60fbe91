"""``kit init`` and ``kit clients`` from the command line: defaults, replay,
re-runs, and every kind of bad input (one line, exit 2, nothing written)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path


from tests.support.cli import kit


def test_secrets_env_gives_sh_the_password_verbatim(tmp_path, capsys):
    from tests.conftest import AWKWARD_PASSWORD

    site = tmp_path / "site"
    code, _, err = kit("init", str(site), "--no-input", "--set", f"admin_password={AWKWARD_PASSWORD}", capsys=capsys)
    assert code == 0, err
    assert tomllib.loads((site / "kit.toml").read_text())["admin_password"] == AWKWARD_PASSWORD
    sourced = subprocess.run(
        ["sh", "-c", '. ./secrets.env && printf %s "$KIT_ADMIN_PASSWORD"'],
        cwd=site / "server", capture_output=True, text=True, check=True,
    )
    assert sourced.stdout == AWKWARD_PASSWORD


def test_non_tty_without_no_input_says_so_instead_of_hanging(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "kit", "init", str(tmp_path / "site")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 2
    assert "not a terminal" in proc.stderr and "--no-input" in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "site").exists()


def test_python_dash_m_kit_and_version():
    proc = subprocess.run([sys.executable, "-m", "kit", "--version"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout.startswith("kit ")


def test_sample_writes_an_installable_wheel(tmp_path, capsys):
    code, out, err = kit("sample", str(tmp_path / "w"), "--name", "my-pkg", "--version", "2.1", "--says", "hi", capsys=capsys)
    assert code == 0, err
    wheel = Path(out.strip())
    assert wheel.name == "my_pkg-2.1-py3-none-any.whl" and wheel.is_file()
    target = tmp_path / "target"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    proc = subprocess.run([sys.executable, "-c", "import my_pkg; print(my_pkg.WHO, my_pkg.VERSION)"],
                          env=dict(os.environ, PYTHONPATH=str(target)), capture_output=True, text=True)
    assert proc.stdout.split() == ["hi", "2.1"]


# -- hostile input (issue 8): each of these was a traceback, a lost folder or a
# -- value that broke a generated file --------------------------------------



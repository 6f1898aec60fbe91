"""Real clients in throwaway virtual environments: which bytes they installed, what the generated files say."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

from tests.conftest import run


def new_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=False, symlinks=True).create(path)
    return path / "bin" / "python"


def who(python: Path, env: dict) -> tuple[str, str]:
    code = "import kitdemo_private as p, kitdemo_upstream as u; print(p.WHO, p.VERSION, u.WHO)"
    out = run([python, "-c", code], env=env).stdout.split()
    return out[0], out[1], out[2]


def load_env_file(path: Path) -> dict[str, str]:
    """What `set -a; . ./ci.env` gives a job, read by the shell itself."""
    out = subprocess.run(["sh", "-c", f"set -a; . '{path}'; env -0"], capture_output=True, env={}, check=True)
    pairs = [item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item]
    return {k: v for k, v in pairs if k.startswith(("PIP_", "UV_", "PDM_", "TWINE_", "POETRY_"))}


def on_team_index(server, team: str, wheel: Path) -> None:
    """``wheel`` is listed on the team index's simple page, with the sha256 of its bytes."""
    import hashlib
    import urllib.request

    project = wheel.name.split("-")[0].replace("_", "-")
    with urllib.request.urlopen(f"{server.url}/{team}/private/+simple/{project}/") as response:
        page = response.read().decode()
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert f"{wheel.name}#sha256={digest}" in page, page


#: Variables that hand a client this machine's CA bundle: the tests of an https site take
#: them out, so each client trusts only what the team's files name. (requests, under twine
#: and poetry, lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE win over the CA a tool sets itself.)
CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NIX_SSL_CERT_FILE")


def without_machine_cas(env: dict) -> dict:
    return {name: value for name, value in env.items() if name not in CA_VARIABLES}

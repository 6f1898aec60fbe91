"""What the bench works on: its own index on the master, made for the run and
deleted after it; the tiny projects uploaded to it (as twine uploads); and
their bytes copied for nginx to serve as static files."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin

import httpx

from kit.core.errors import BenchError, KitError, one_line
from kit.ops.bench.client import connection, first_file
from kit.ops.bench.result import ACCEPT, BENCH_INDEX, Say

__all__ = ["make_index", "delete_index", "upload", "copy_for_nginx"]


def make_index(api, say: Say) -> None:
    """The bench index, new and empty (one left by an interrupted run is replaced)."""
    from kit.cluster.devpi import DevpiError

    try:
        if api.get(f"/{BENCH_INDEX}") is not None:
            api.delete(f"/{BENCH_INDEX}")
            say(f"bench: removed {BENCH_INDEX} left by an earlier run")
        api.put(f"/{BENCH_INDEX}", {"type": "stage", "bases": [], "volatile": True,
                                    "title": "kit bench: deleted when the bench ends"})
    except DevpiError as exc:
        raise BenchError(f"cannot make the bench index {BENCH_INDEX}: {exc}") from None


def delete_index(api, say: Say) -> None:
    from kit.cluster.devpi import DevpiError

    try:
        api.delete(f"/{BENCH_INDEX}")
    except (DevpiError, KitError) as exc:
        say(f"bench: warning: {BENCH_INDEX} could not be deleted ({exc}); delete it with: "
            f"devpi index --delete {BENCH_INDEX}")


def upload(root_url: str, auth: str, wheel: Path) -> None:
    """Upload ``wheel`` to the bench index through ``root_url`` (devpi's upload API, as twine uses it:
    a multipart form, the file as ``content``); :class:`BenchError` when it is refused."""
    name, version = wheel.name.split("-")[:2]
    try:
        with connection(root_url, timeout=60) as client:
            answer = client.post(
                f"/{BENCH_INDEX}/", data={":action": "file_upload", "name": name, "version": version},
                files={"content": (wheel.name, wheel.read_bytes(), "application/octet-stream")},
                headers={"X-Devpi-Auth": auth, "Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise BenchError(f"uploading {wheel.name} through {root_url} failed: {one_line(exc)}") from None
    if answer.status_code != 200:
        raise BenchError(f"uploading {wheel.name} through {root_url}: HTTP {answer.status_code} "
                         f"{one_line(answer.content.decode(errors='replace'))}")


def copy_for_nginx(master_url: str, pages: list[str], folder: Path) -> list[str]:
    """Write each page's bytes (as served to pip) and its file's bytes under ``folder`` at their
    URL paths, for nginx to serve as they are; the files' URL paths."""
    paths = []
    try:
        with connection(master_url) as client:
            for page in pages:
                answer = client.get(page, headers={"Accept": ACCEPT})
                href = first_file(answer.content) if answer.status_code == 200 else None
                if href is None:
                    raise BenchError(f"the master did not list the bench's file on {page} (HTTP {answer.status_code})")
                file_path = urljoin(page, href)
                data = client.get(file_path)
                if data.status_code != 200:
                    raise BenchError(f"the master did not serve {file_path} (HTTP {data.status_code})")
                for path, content in ((page + "index.json", answer.content), (file_path, data.content)):
                    local = folder / path.lstrip("/")
                    local.parent.mkdir(parents=True, exist_ok=True)
                    local.write_bytes(content)
                paths.append(file_path)
    except (OSError, httpx.HTTPError) as exc:
        raise BenchError(f"reading the bench index from the master failed: {one_line(exc)}") from None
    return paths

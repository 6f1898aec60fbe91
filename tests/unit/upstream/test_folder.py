"""The local upstream's folder (:mod:`kit.upstream.folder`), as a client of the
server reads it: a file added is listed without a restart; serials derived
from the files' timestamps (adding or replacing a file raises them, a copy
with an old mtime too); each release's ``Requires-Python`` and
``Requires-Dist`` read from the wheel or the sdist."""

from __future__ import annotations

import hashlib
import os
import re
import time

from kit.ops.sample import make_wheel
from kit.upstream.server import JSON_TYPE, SERIAL_HEADER, LocalUpstream
from tests.support.upstream_http import fetch, fetch_json, status_of


def test_new_files_appear_without_restart(tmp_path):
    with LocalUpstream(tmp_path) as upstream:
        assert b"late" not in fetch(upstream.url)[1]
        make_wheel(tmp_path, "late", "1.0")
        assert b"/simple/late/" in fetch(upstream.url)[1]


def test_json_api_and_listing_carry_serials(tmp_path):
    wheel = make_wheel(tmp_path, "kitbs-alpha", "1.0", requires_python=">=3.8")
    make_wheel(tmp_path, "kitbs-beta", "1.0")
    with LocalUpstream(tmp_path) as upstream:
        root = f"http://127.0.0.1:{upstream.port}"
        listing, headers = fetch_json(upstream.url, JSON_TYPE)
        serials = {p["name"]: p["_last-serial"] for p in listing["projects"]}
        assert set(serials) == {"kitbs-alpha", "kitbs-beta"} and all(isinstance(s, int) and s > 0 for s in serials.values())
        assert listing["meta"] == {"api-version": "1.0", "_last-serial": max(serials.values())}
        assert int(headers[SERIAL_HEADER]) == max(serials.values())

        data, headers = fetch_json(f"{root}/pypi/kitbs-alpha/json")
        assert int(headers[SERIAL_HEADER]) == data["last_serial"] == serials["kitbs-alpha"]
        assert data["info"]["name"] == "kitbs-alpha" and data["info"]["version"] == "1.0"
        assert data["info"]["requires_python"] == ">=3.8"
        [file] = data["releases"]["1.0"]
        assert data["urls"] == [file]
        content = wheel.read_bytes()
        assert file["filename"] == wheel.name and file["size"] == len(content)
        assert file["digests"] == {"sha256": hashlib.sha256(content).hexdigest(), "md5": hashlib.md5(content).hexdigest()}
        assert (file["packagetype"], file["python_version"], file["yanked"]) == ("bdist_wheel", "py3", False)
        assert file["requires_python"] == ">=3.8"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", file["upload_time_iso_8601"])
        assert file["url"].startswith(f"{root}/packages/")
        assert fetch_json(f"{root}/pypi/kitbs-beta/json")[0]["info"]["requires_python"] is None
        # a non-normalised name answers for the project; an unknown one is a 404
        assert fetch_json(f"{root}/pypi/KitBS_Alpha/json")[0]["last_serial"] == serials["kitbs-alpha"]
        assert status_of(f"{root}/pypi/kitbs-nope/json") == 404

        # a new version raises the project's serial and the index's, not the other project's
        newer = make_wheel(tmp_path, "kitbs-alpha", "1.1")
        later_ns = (max(serials.values()) + 5_000) * 1_000_000
        os.utime(newer, ns=(later_ns, later_ns))
        data, headers = fetch_json(f"{root}/pypi/kitbs-alpha/json")
        assert int(headers[SERIAL_HEADER]) == data["last_serial"] > serials["kitbs-alpha"]
        assert data["info"]["version"] == "1.1" and sorted(data["releases"]) == ["1.0", "1.1"]
        listing, _ = fetch_json(upstream.url, JSON_TYPE)
        assert listing["meta"]["_last-serial"] == data["last_serial"]
        assert {p["name"]: p["_last-serial"] for p in listing["projects"]}["kitbs-beta"] == serials["kitbs-beta"]
        # a file copied in with an old mtime (cp -p, unzip) is new all the same
        time.sleep(0.02)  # past the file system's clock tick: the copy's ctime is later
        old = make_wheel(tmp_path, "kitbs-beta", "0.9")
        os.utime(old, (1_600_000_000, 1_600_000_000))
        assert fetch_json(f"{root}/pypi/kitbs-beta/json")[0]["last_serial"] > serials["kitbs-beta"]


def test_json_api_gives_the_latest_releases_dependencies(tmp_path):
    """What ``kit mirror sync`` resolves a project's dependencies from, as PyPI gives it."""
    make_wheel(tmp_path, "kitbs-app", "1.0", requires=("kitbs-old",))
    make_wheel(tmp_path, "kitbs-app", "2.0", requires=("kitbs-lib>=1", 'kitbs-extra; extra == "more"'))
    make_wheel(tmp_path, "kitbs-lib", "1.0")
    sdist_dir = tmp_path / "kitbs_src-1.0"
    sdist_dir.mkdir()
    (sdist_dir / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: kitbs-src\nVersion: 1.0\nRequires-Dist: kitbs-lib\n")
    import tarfile

    with tarfile.open(tmp_path / "kitbs_src-1.0.tar.gz", "w:gz") as tf:
        tf.add(sdist_dir, arcname="kitbs_src-1.0")
    with LocalUpstream(tmp_path) as upstream:
        root = f"http://127.0.0.1:{upstream.port}"
        assert fetch_json(f"{root}/pypi/kitbs-app/json")[0]["info"]["requires_dist"] == [
            "kitbs-lib>=1", 'kitbs-extra; extra == "more"']
        assert fetch_json(f"{root}/pypi/kitbs-lib/json")[0]["info"]["requires_dist"] is None
        assert fetch_json(f"{root}/pypi/kitbs-src/json")[0]["info"]["requires_dist"] == ["kitbs-lib"]

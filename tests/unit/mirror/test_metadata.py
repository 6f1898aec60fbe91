"""Core metadata for the public mirror (kit.mirror.metadata): ``.metadata`` beside each
verified wheel, its sha256 on the pages bandersnatch wrote, and only for the projects
bandersnatch's diff file names once kit has done every project."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import zipfile
from pathlib import Path

from kit.mirror.metadata import add_core_metadata, changed_file_list, changed_projects, note_changed_projects
from kit.mirror.record import count_tree
from kit.ops.sample import make_wheel
from kit.site.plan import MirrorPaths


def publish(paths: MirrorPaths, project: str, versions=("1.0",), *, sdist: bool = False) -> dict[str, Path]:
    """A project as bandersnatch 6.8 writes it (simple-format ALL): its files under packages/,
    index.html, index.v1_html and index.v1_json, byte for byte in its format."""
    module = project.replace("-", "_")
    files = {}
    for version in versions:
        built = make_wheel(paths.root / "build", project, version)
        files[built.name] = built.read_bytes()
    if sdist:
        files[f"{module}-{versions[0]}.tar.gz"] = b"not a wheel"
    placed, links, entries = {}, [], []
    for filename, data in sorted(files.items()):
        digest = hashlib.sha256(data).hexdigest()
        path = paths.web / "packages" / digest[:2] / digest[2:4] / digest[4:] / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        placed[filename] = path
        url = f"../../packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{filename}"
        links.append(f'    <a href="{url}#sha256={digest}">{filename}</a><br/>')
        entries.append({"filename": filename, "hashes": {"sha256": digest}, "requires-python": "", "size": len(data),
                        "upload-time": "2026-01-01T00:00:00.000000Z", "url": url, "yanked": False})
    page = (f'<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.0">\n'
            f"    <title>Links for {project}</title>\n  </head>\n  <body>\n    <h1>Links for {project}</h1>\n"
            + "\n".join(links) + "\n  </body>\n</html>\n<!--SERIAL 7-->")
    folder = paths.web / "simple" / project
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("index.html", "index.v1_html"):
        (folder / name).write_text(page, encoding="utf-8")
    (folder / "index.v1_json").write_text(json.dumps({
        "files": entries, "meta": {"api-version": "1.1", "_last-serial": "7"}, "name": project,
        "versions": list(versions)}), encoding="utf-8")
    return placed


def wheel_metadata(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return archive.read(name)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def paths_in(tmp_path: Path) -> MirrorPaths:
    paths = MirrorPaths.of(tmp_path / "site")
    paths.run.mkdir(parents=True)
    return paths


def bandersnatch_wrote(paths: MirrorPaths, *projects: str) -> None:
    """The diff file bandersnatch leaves (diff-file): absolute paths, pages, JSON and files alike."""
    lines = [str(paths.web / "simple" / "index.html"), str(paths.data / "web" / "json" / "x")]
    for name in projects:
        lines += [str(paths.web / "simple" / name / page) for page in ("index.html", "index.v1_html", "index.v1_json")]
    changed_file_list(paths).write_text("\n".join(lines))


def test_each_wheel_gets_its_metadata_and_every_page_its_sha256(tmp_path):
    paths = paths_in(tmp_path)
    placed = publish(paths, "kmt-lib", ("1.0", "1.1"), sdist=True)
    wheel = placed["kmt_lib-1.0-py3-none-any.whl"]
    wheel.chmod(0o640)
    html_before = (paths.web / "simple" / "kmt-lib" / "index.html").read_text()
    lines = []

    result = add_core_metadata(paths, lines.append)

    meta = wheel.with_name(wheel.name + ".metadata")
    assert meta.read_bytes() == wheel_metadata(wheel)
    assert oct(meta.stat().st_mode & 0o777) == oct(0o640)
    assert not placed["kmt_lib-1.0.tar.gz"].with_name("kmt_lib-1.0.tar.gz.metadata").exists()
    value = f"sha256={sha256(meta.read_bytes())}"
    for name in ("index.html", "index.v1_html"):
        page = (paths.web / "simple" / "kmt-lib" / name).read_text()
        assert f'data-dist-info-metadata="{value}" data-core-metadata="{value}"' in page
        assert page.count("data-core-metadata=") == 2  # the two wheels, not the sdist
        # bandersnatch's other bytes kept: without the attributes the page is what it wrote
        other = f"sha256={sha256(wheel_metadata(placed['kmt_lib-1.1-py3-none-any.whl']))}"
        for each in (value, other):
            page = page.replace(f' data-dist-info-metadata="{each}" data-core-metadata="{each}"', "")
        assert page == html_before
    files = {f["filename"]: f for f in json.loads((paths.web / "simple" / "kmt-lib" / "index.v1_json").read_text())["files"]}
    assert files["kmt_lib-1.0-py3-none-any.whl"]["core-metadata"] == {"sha256": value[7:]}
    assert files["kmt_lib-1.0-py3-none-any.whl"]["dist-info-metadata"] == {"sha256": value[7:]}
    assert "core-metadata" not in files["kmt_lib-1.0.tar.gz"]
    assert (result.wheels, result.written, result.pages) == (2, 2, 3)
    assert lines == [line for line in lines if line.startswith("core metadata: 2 wheels of 1 project")]
    assert count_tree(paths.web / "packages")[0] == 3  # distributions only, not their .metadata


def test_a_wheel_that_disagrees_with_its_page_gets_no_metadata_and_one_warning(tmp_path):
    paths = paths_in(tmp_path)
    placed = publish(paths, "kmt-lib", ("1.0", "1.1"))
    bad = placed["kmt_lib-1.0-py3-none-any.whl"]
    bad.write_bytes(bad.read_bytes().replace(b"unset", b"UNSET"))  # still a wheel, not the page's bytes
    lines = []

    result = add_core_metadata(paths, lines.append)

    assert not bad.with_name(bad.name + ".metadata").exists()
    assert [line for line in lines if "kmt_lib-1.0" in line] == [
        "core metadata: kmt_lib-1.0-py3-none-any.whl does not match the sha256 its page gives; no .metadata for it "
        "(kit mirror sync --repair downloads it again)"]
    page = (paths.web / "simple" / "kmt-lib" / "index.html").read_text()
    [bad_link] = [line for line in page.splitlines() if "kmt_lib-1.0-" in line]
    assert "metadata" not in bad_link
    [good_link] = [line for line in page.splitlines() if "kmt_lib-1.1-" in line]
    assert "data-core-metadata=" in good_link
    entry = next(f for f in json.loads((paths.web / "simple" / "kmt-lib" / "index.v1_json").read_text())["files"]
                 if f["filename"] == bad.name)
    assert "core-metadata" not in entry and "dist-info-metadata" not in entry
    assert result.wheels == 1 and len(result.warnings) == 1


def test_a_file_that_is_no_wheel_inside_is_said_and_left_unadvertised(tmp_path):
    paths = paths_in(tmp_path)
    placed = publish(paths, "kmt-lib")
    wheel = placed["kmt_lib-1.0-py3-none-any.whl"]
    wheel.write_bytes(b"not a zip")
    page = paths.web / "simple" / "kmt-lib" / "index.v1_json"
    data = json.loads(page.read_text())
    data["files"][0]["hashes"]["sha256"] = sha256(b"not a zip")  # the page agrees: the upstream served this
    page.write_text(json.dumps(data))
    lines = []

    result = add_core_metadata(paths, lines.append)

    assert result.wheels == 0 and not wheel.with_name(wheel.name + ".metadata").exists()
    assert len(result.warnings) == 1 and "kmt_lib-1.0-py3-none-any.whl" in result.warnings[0]
    assert "Traceback" not in "\n".join(lines)


def test_after_the_first_pass_only_the_projects_bandersnatch_wrote_are_done(tmp_path):
    paths = paths_in(tmp_path)
    publish(paths, "kmt-app")
    publish(paths, "kmt-lib")
    assert add_core_metadata(paths).projects == 2  # no state yet: every project once
    # bandersnatch writes both pages again (no attributes), but its diff file names kmt-app only
    publish(paths, "kmt-app", ("1.0", "2.0"))
    publish(paths, "kmt-lib")
    bandersnatch_wrote(paths, "kmt-app")

    note_changed_projects(paths)
    result = add_core_metadata(paths)

    assert result.projects == 1 and result.written == 1  # kmt-app 2.0's; 1.0's .metadata was there
    assert "data-core-metadata" in (paths.web / "simple" / "kmt-app" / "index.html").read_text()
    assert "data-core-metadata" not in (paths.web / "simple" / "kmt-lib" / "index.html").read_text()
    assert not changed_file_list(paths).exists()
    assert add_core_metadata(paths).projects == 0


def test_projects_of_a_failed_sync_wait_for_the_next_one_and_repair_does_every_project(tmp_path):
    paths = paths_in(tmp_path)
    publish(paths, "kmt-app")
    publish(paths, "kmt-lib")
    add_core_metadata(paths)
    publish(paths, "kmt-lib")
    bandersnatch_wrote(paths, "kmt-lib")
    note_changed_projects(paths)  # the sync failed after writing kmt-lib: nothing advertised this time
    bandersnatch_wrote(paths)  # the next sync wrote no project page
    note_changed_projects(paths)

    assert add_core_metadata(paths).projects == 1
    assert "data-core-metadata" in (paths.web / "simple" / "kmt-lib" / "index.html").read_text()

    note_changed_projects(paths, everything=True)
    assert add_core_metadata(paths).projects == 2


def test_repair_makes_a_tampered_metadata_again_from_the_verified_wheel(tmp_path):
    paths = paths_in(tmp_path)
    wheel = publish(paths, "kmt-lib")["kmt_lib-1.0-py3-none-any.whl"]
    add_core_metadata(paths)
    meta = wheel.with_name(wheel.name + ".metadata")
    meta.write_bytes(b"Metadata-Version: 2.1\nName: evil\n")

    note_changed_projects(paths, everything=True)
    result = add_core_metadata(paths, recheck=True)

    assert result.written == 1 and meta.read_bytes() == wheel_metadata(wheel)
    assert f"sha256={sha256(wheel_metadata(wheel))}" in (paths.web / "simple" / "kmt-lib" / "index.html").read_text()


def test_the_diff_file_names_only_project_pages(tmp_path):
    web = tmp_path / "data" / "web"
    listing = "\n".join([
        str(web / "simple" / "index.html"), str(web / "simple" / "index.v1_json"),
        str(web / "simple" / "kmt-a" / "index.html"), str(web / "simple" / "kmt-b" / "index.v1_json"),
        str(web / "simple" / "kmt-c" / "versions" / "index_1_x.html"),
        str(web / "packages" / "ab" / "cd" / "ef" / "kmt_d-1.0-py3-none-any.whl"),
        str(web / "json" / "kmt-e"), str(tmp_path / "elsewhere" / "simple" / "kmt-f" / "index.html"), "",
    ])
    assert changed_projects(listing, web) == {"kmt-a", "kmt-b"}


def test_two_thousand_projects_cost_a_look_at_what_changed(tmp_path):
    """A benchmark (numbers printed, never asserted): the first pass over every project, then
    one sync that changed a single project of 2,000."""
    paths = paths_in(tmp_path)
    wheel = make_wheel(paths.root / "build", "kmt-bench", "1.0")
    data = wheel.read_bytes()
    digest = sha256(data)
    for number in range(2000):
        name = f"kmt-bench-{number}"
        target = paths.web / "packages" / f"{number:04d}" / wheel.name
        target.parent.mkdir(parents=True)
        target.write_bytes(data)
        folder = paths.web / "simple" / name
        folder.mkdir(parents=True)
        link = f'<a href="../../packages/{number:04d}/{wheel.name}#sha256={digest}">{wheel.name}</a><br/>'
        (folder / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{link}\n</body></html>")
    started = time.perf_counter()
    first = add_core_metadata(paths)
    first_seconds = time.perf_counter() - started
    (paths.web / "simple" / "kmt-bench-7" / "index.html").write_text(
        f'<a href="../../packages/0007/{wheel.name}#sha256={digest}">{wheel.name}</a>')
    bandersnatch_wrote(paths, "kmt-bench-7")
    started = time.perf_counter()
    note_changed_projects(paths)
    again = add_core_metadata(paths)
    again_seconds = time.perf_counter() - started
    print(f"\ncore metadata, 2,000 projects: first pass {first_seconds:.2f} s ({first.written} .metadata), "
          f"a sync changing one project {again_seconds * 1000:.1f} ms")
    assert (first.projects, first.written, again.projects, again.pages) == (2000, 2000, 1, 1)
    assert os.path.getsize(paths.web / "packages" / "0007" / (wheel.name + ".metadata")) > 0


def test_a_metadata_goes_with_its_wheel_when_its_project_is_done_again(tmp_path):
    """A wheel its page still lists is gone from disk (deleted by hand or by bandersnatch's
    tools): the next sync that does the project deletes its .metadata and stops advertising it."""
    paths = paths_in(tmp_path)
    placed = publish(paths, "kmt-lib", ("1.0", "1.1"))
    add_core_metadata(paths)
    gone = placed["kmt_lib-1.0-py3-none-any.whl"]
    gone.unlink()
    publish_pages_again = (paths.web / "simple" / "kmt-lib" / "index.html").read_text()
    (paths.web / "simple" / "kmt-lib" / "index.html").write_text(
        re.sub(r' data-(?:dist-info|core)-metadata="[^"]*"', "", publish_pages_again))  # bandersnatch wrote it again
    bandersnatch_wrote(paths, "kmt-lib")
    lines = []

    note_changed_projects(paths)
    result = add_core_metadata(paths, lines.append)

    assert not gone.with_name(gone.name + ".metadata").exists()
    assert result.removed == 1 and result.wheels == 1
    [link] = [line for line in (paths.web / "simple" / "kmt-lib" / "index.html").read_text().splitlines()
              if "kmt_lib-1.0-" in line]
    assert "metadata" not in link
    assert "1 orphaned .metadata deleted" in lines[-1]


def test_every_orphaned_metadata_goes_when_every_project_is_done(tmp_path):
    """bandersnatch 6.8 deletes no file itself: a release deleted upstream leaves its wheel on disk,
    listed by no page; ``bandersnatch delete`` removes a project's pages and wheels but not the
    .metadata kit wrote beside them. --repair (every project) deletes both kinds; a .metadata whose
    page cannot be read stays (its wheel may be listed there)."""
    paths = paths_in(tmp_path)
    lib = publish(paths, "kmt-lib", ("1.0", "1.1"))
    gone = publish(paths, "kmt-gone")["kmt_gone-1.0-py3-none-any.whl"]
    kept = publish(paths, "kmt-kept")["kmt_kept-1.0-py3-none-any.whl"]
    add_core_metadata(paths)
    publish(paths, "kmt-lib", ("1.1",))  # 1.0 deleted upstream: its wheel stays, unlisted
    unlisted = lib["kmt_lib-1.0-py3-none-any.whl"]
    assert unlisted.is_file()
    gone.unlink()  # bandersnatch delete kmt-gone: its pages and its wheel
    for page in (paths.web / "simple" / "kmt-gone").iterdir():
        page.unlink()
    (paths.web / "simple" / "kmt-gone").rmdir()
    (paths.web / "simple" / "kmt-kept" / "index.v1_json").write_text("{not json")
    bandersnatch_wrote(paths, "kmt-lib")
    note_changed_projects(paths)
    assert add_core_metadata(paths).removed == 0  # a plain sync cannot know which wheel a page listed before

    note_changed_projects(paths, everything=True)
    result = add_core_metadata(paths, recheck=True)

    assert not gone.with_name(gone.name + ".metadata").exists()
    assert not gone.parent.exists()  # its folder emptied, removed as bandersnatch removes its own
    # kmt-kept's page cannot be read: which wheels it lists is unknown, so no listed wheel's .metadata goes
    assert unlisted.with_name(unlisted.name + ".metadata").is_file()
    assert kept.with_name(kept.name + ".metadata").is_file()
    assert result.removed == 1 and len(result.warnings) == 1  # kmt-kept's page, said once

    (paths.web / "simple" / "kmt-kept" / "index.v1_json").unlink()  # its HTML pages still list its wheel
    note_changed_projects(paths, everything=True)
    result = add_core_metadata(paths, recheck=True)

    assert not unlisted.with_name(unlisted.name + ".metadata").exists() and unlisted.is_file()
    assert kept.with_name(kept.name + ".metadata").is_file()
    wheel = lib["kmt_lib-1.1-py3-none-any.whl"]
    assert wheel.with_name(wheel.name + ".metadata").is_file()
    assert result.removed == 1 and not result.warnings

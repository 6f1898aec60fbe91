"""Following devpi's commits (kit/plugin/watcher.py), on a real master and its
replica both running the plugin: an upload purges its index and every index
inheriting it, a new release and a removal purge the project pages, new
upstream links on the mirror purge, an index setting change purges the whole
index and its inheritors, a password change purges only the user's read
decisions (``+user/USER``), and so do a token made and deleted.

The ``site`` fixture (conftest.py) starts them; a stand-in edge for each
(tests/support/plugin.py) records the purges.
"""

from __future__ import annotations

import time

from kit.ops.sample import make_wheel
from tests.support.plugin_devpi import api_client, upload


def test_an_upload_purges_its_index_and_every_index_inheriting_it(site):
    wheel = make_wheel(site.wheels, "kitdemo_Purge.Me", "1.0")
    serial = upload(site.master.url, "web/private", wheel, site.auth["web"])
    wanted = {"web/private", "web/private/kitdemo-purge-me", "acme/private", "acme/private/kitdemo-purge-me"}
    found = site.purges.wait_for(wanted)
    for purge in found:
        assert purge.authorization == f"Bearer {site.secret}"
        assert purge.content_type == "application/json"
        # The serial of the newest change covered, as devpi numbers its commits.
        assert isinstance(purge.body["serial"], int) and purge.body["serial"] >= serial
    project_keys = {key for key in site.purges.keys() if key.endswith("/kitdemo-purge-me")}
    # root/pypi and data/other do not inherit web/private: their pages did not change.
    assert project_keys == {"web/private/kitdemo-purge-me", "acme/private/kitdemo-purge-me"}
    # The replica replays the commit, at the master's serial, and purges too.
    replica_found = site.replica_purges.wait_for(wanted)
    assert all(p.authorization == f"Bearer {site.secret}" and p.body["serial"] >= serial for p in replica_found)


def test_a_new_release_and_a_removal_purge_the_project_pages(site):
    make_wheel(site.wheels, "kitdemo-again", "1.0")
    upload(site.master.url, "web/private", site.wheels / "kitdemo_again-1.0-py3-none-any.whl", site.auth["web"])
    site.purges.wait_for({"web/private/kitdemo-again"})
    first = len(site.purges.purges)
    serial = upload(site.master.url, "web/private", make_wheel(site.wheels, "kitdemo-again", "2.0"), site.auth["web"])
    site.purges.wait_count(first + 1)
    site.purges.wait_for({"web/private/kitdemo-again", "acme/private/kitdemo-again"})
    assert any(p.body["serial"] >= serial and "acme/private/kitdemo-again" in p.body["keys"]
               for p in site.purges.purges[first:])
    # Removing a release (devpi's DELETE of a version) purges the same pages again.
    after_upload = len(site.purges.purges)
    with api_client() as client:
        answer = client.delete(f"{site.master.url}/web/private/kitdemo-again/2.0", headers=site.auth["web"])
    assert answer.status_code == 200, answer.text
    removal_serial = int(answer.headers["X-Devpi-Serial"])
    deadline = time.monotonic() + 30
    while not any(p.body["serial"] >= removal_serial and "acme/private/kitdemo-again" in p.body["keys"]
                  for p in site.purges.purges[after_upload:]):
        assert time.monotonic() < deadline, f"no purge for the removal: {site.purges.purges[after_upload:]}"
        time.sleep(0.05)


def test_new_upstream_links_on_the_mirror_purge_every_index_inheriting_it(site):
    """root/pypi fetches kitdemo-upstream from the upstream and commits its links."""
    with api_client() as client:
        answer = client.get(f"{site.master.url}/root/pypi/+simple/kitdemo-upstream/", headers={"Accept": "text/html"})
    assert answer.status_code == 200 and "kitdemo_upstream-1.0" in answer.text
    site.purges.wait_for({"root/pypi/kitdemo-upstream", "web/private/kitdemo-upstream",
                          "acme/private/kitdemo-upstream"})
    assert "data/other/kitdemo-upstream" not in site.purges.keys()


def test_an_index_setting_change_purges_the_whole_index_and_its_inheritors(site):
    since = site.purges.mark()
    with api_client() as client:
        answer = client.patch(f"{site.master.url}/web/private", headers=site.auth["web"],
                              json=["mirror_whitelist+=kitdemo-upstream"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["mirror_whitelist"] == ["kitdemo-upstream"]
    site.purges.wait_for({"web/private/*", "acme/private/*"}, since)
    assert not {"root/pypi/*", "data/other/*"} & site.purges.keys(since)


def test_a_password_change_purges_the_users_read_decisions_and_no_page(site):
    """The user key holds passwords too: a change of one purges ``+user/USER``
    (what the edges let in with the old one), and no page. Proven with a later
    change elsewhere: devpi replays commits in order, so once its purge has
    arrived, any other for the password change would have too."""
    before = site.purges.mark()
    with api_client() as client:
        answer = client.patch(f"{site.master.url}/data", headers=site.auth["root"], json={"password": "other-pw-1"})
        assert answer.status_code == 200, answer.text
        answer = client.patch(f"{site.master.url}/acme/private", headers=site.auth["root"], json=["title=changed"])
        assert answer.status_code == 200, answer.text
    site.purges.wait_for({"acme/private/*"}, before)
    assert site.purges.keys(before) == {"+user/data", "acme/private/*"}
    # The replica replays the change and tells its edges too.
    site.replica_purges.wait_for({"+user/data"})


def test_a_token_made_or_deleted_purges_the_users_read_decisions(site):
    """devpi-tokens keeps a user's tokens in its record: a deleted token must not stay let in at an edge."""
    with api_client() as client:
        before = site.purges.mark()
        made = client.post(f"{site.master.url}/acme/+token-create", headers=site.auth["root"], json={})
        assert made.status_code == 200, made.text
        site.purges.wait_for({"+user/acme"}, before)
        tokens = client.get(f"{site.master.url}/acme/+tokens", headers=site.auth["root"]).json()["result"]["tokens"]
        deleting = site.purges.mark()
        for token_id in tokens:
            assert client.delete(f"{site.master.url}/acme/+tokens/{token_id}", headers=site.auth["root"]).status_code == 200
    site.purges.wait_for({"+user/acme"}, deleting)
    assert site.purges.keys(deleting) == {"+user/acme"}
    site.replica_purges.wait_for({"+user/acme"})

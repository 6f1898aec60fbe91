"""kit's devpi-server plugin: the hook implementations devpi calls, and only
them. devpi loads this module through the ``devpi_server`` entry point of
kit's distribution (``kit-purge = "kit.plugin.hooks"``); pluggy collects the
``@hookimpl`` functions from it. The plugin has two jobs, each off unless
its setting is made:

* **Purges** (``kit-purge-url``, ``kit-purge-secretfile``): after each
  commit, tell the edges which cached index pages the commit changed, so
  they drop them at once instead of serving them until they expire.
  :mod:`kit.plugin.watcher` follows the commits, :mod:`kit.plugin.keys`
  names the pages (in :mod:`kit.core.purge_keys`' spelling, which the edge
  reads), :mod:`kit.plugin.sender` sends them; :mod:`kit.plugin.settings`
  checks the two settings.
* **One team per project** (``kit-one-team-per-project``): see
  :mod:`kit.plugin.ownership`.

And two that are always on. **Private reads**, which change nothing for an
index that does not ask: the index option ``acl_pkg_read`` asked of every
read of the index's pages, JSON and files, and of devpi-web's search results
when devpi-web is loaded (:mod:`kit.plugin.reads`). **Mends to devpi's
replica** on the mirror: files fetched on demand as the replica, errors its
``/+status`` can show, and a count of the files it has yet to download
(:mod:`kit.plugin.replica`). Whether devpi-web is
loaded at all is the launcher's choice (``kit-web``, :mod:`kit.plugin.launch`).
"""

from __future__ import annotations

import ssl

from pluggy import HookimplMarker

from kit.plugin import reads, replica
from kit.plugin.sender import Fanout, PurgeSender
from kit.plugin.settings import check_urls, fatal, read_secret, secret_path
from kit.plugin.watcher import ChangeWatcher, CommitFollower

__all__ = [
    "FEATURE", "devpiserver_add_parser_options", "devpiserver_authcheck_forbidden",
    "devpiserver_authcheck_unauthorized", "devpiserver_get_features", "devpiserver_get_identity",
    "devpiserver_identity_loaded", "devpiserver_indexconfig_defaults",
    "devpiserver_metrics", "devpiserver_pyramid_configure", "devpiserver_stage_get_principals_for_pkg_read",
]

hookimpl = HookimplMarker("devpiserver")

#: Listed in devpi's ``/+api`` "features" when the plugin is loaded.
FEATURE = "kit-purge"


@hookimpl
def devpiserver_add_parser_options(parser):
    group = parser.addgroup("kit purge options (tell kit's edge which cached pages a commit changed)")
    group.addoption(
        "--kit-purge-url", metavar="URL", default=None,
        help="the edge's purge endpoint, e.g. http://127.0.0.1:3143/+edge/purge; "
             "without it the plugin does nothing.")
    group.addoption(
        "--kit-purge-secretfile", metavar="PATH", default=None,
        help="file holding the secret shared with the edge (sent as a bearer token); "
             "a relative path is taken from the working folder, as for --secretfile.")
    group.addoption(
        "--kit-purge-cafile", metavar="PATH", default=None,
        help="the CA certificate(s) the edges' TLS certificates are checked against (an https site "
             "spread over hosts, whose edges take purges on their TLS port); default: the system's.")
    group.addoption(
        "--kit-purge-tls-name", metavar="NAME", default=None,
        help="the name the edges' certificates carry (the site's host), checked instead of the "
             "address in each purge URL.")
    group = parser.addgroup("kit ownership options")
    group.addoption(
        "--kit-one-team-per-project", action="store_true", default=False,
        help="refuse an upload, registration or push of a project that another user's index already "
             "holds, and hold each published name on root/names for the team indexes that do not "
             "inherit the publisher's (kit's answer read_access = team).")
    group = parser.addgroup("kit web options")
    group.addoption(
        "--kit-web", action="store_true", default=False,
        help="load devpi-web (the web pages and search of the indexes) when devpi runs through kit's "
             "launcher (python -m kit.plugin.launch); without it the launcher blocks devpi-web "
             "(kit's answer web).")


@hookimpl
def devpiserver_get_features():
    return {FEATURE}


@hookimpl
def devpiserver_indexconfig_defaults(index_type):
    from devpi_server.model import ACLList

    # An ACLList: devpi then takes the option as it takes acl_upload (a list or "a,b").
    return {reads.ACL_OPTION: ACLList([":ANONYMOUS:"])}


@hookimpl
def devpiserver_stage_get_principals_for_pkg_read(ixconfig):
    return reads.principals(ixconfig)


# Before devpi's own forbidden rule (403 to anonymous on files), which would hide the 401.
@hookimpl(tryfirst=True)
def devpiserver_authcheck_forbidden(request):
    return reads.authcheck_forbidden(request)


@hookimpl
def devpiserver_authcheck_unauthorized(request):
    return reads.authcheck_unauthorized(request)


#: Passwords devpi verified in the last seconds (see kit.plugin.reads.VerifiedPasswords).
VERIFIED = reads.VerifiedPasswords()


# First: a password verified seconds ago with the same hash is not hashed again.
@hookimpl(tryfirst=True)
def devpiserver_get_identity(request, credentials):
    given = reads.password_credentials(request, credentials)
    if given is None:
        return None
    groups = VERIFIED.groups(*given, reads.password_hash(request, given[0]))
    return None if groups is None else reads.CachedIdentity(given[0], groups)


@hookimpl
def devpiserver_identity_loaded(request, credential_plugin_name, identity_plugin_name, identity):
    from devpi_server.view_auth import CredentialsIdentity

    # devpi's own password check (not a token's, nor ours): remember that it passed.
    if type(identity) is not CredentialsIdentity:
        return
    policy_credentials = request.registry["xom"].config.hook.devpiserver_get_credentials(request=request)
    given = reads.password_credentials(request, policy_credentials)
    if given is not None and given[0] == identity.username:
        VERIFIED.remember(*given, reads.password_hash(request, given[0]), identity.groups)


# Last: after devpi-web's, which puts its search index in the registry.
@hookimpl(trylast=True)
def devpiserver_pyramid_configure(config, pyramid_config):
    # Called while devpi builds its app: after its keys exist, before its
    # threads start, the time to register threads of our own.
    from pyramid.events import ContextFound, NewResponse

    pyramid_config.add_subscriber(reads.guard_reads, ContextFound)
    reads.guard_search(pyramid_config.registry)
    pyramid_config.add_subscriber(reads.add_www_authenticate, NewResponse)
    replica.mend(pyramid_config.registry["xom"])
    args = config.args
    if getattr(args, "kit_one_team_per_project", False):
        # Under devpi's transaction tween: it reads the indexes as the view will see them.
        pyramid_config.add_tween("kit.plugin.ownership.one_team_per_project_tween",
                                 under="devpi_server.views.tween_keyfs_transaction")
    url = getattr(args, "kit_purge_url", None)
    secretfile = getattr(args, "kit_purge_secretfile", None)
    if not url and not secretfile:
        return
    if not url or not secretfile:
        missing = "kit-purge-secretfile" if url else "kit-purge-url"
        raise fatal(f"{missing} is not set; set both kit-purge-url and kit-purge-secretfile, or neither")
    urls = check_urls(url)
    path = secret_path(secretfile)
    secret = read_secret(path)
    xom = pyramid_config.registry["xom"]
    from devpi_server.log import threadlog

    if config.requests_only:
        # No notifier runs in a requests-only worker; the main process purges.
        threadlog.info("kit-purge: requests-only worker, purges come from the main process")
        return
    cafile = getattr(args, "kit_purge_cafile", None)
    try:
        verify = ssl.create_default_context(cafile=cafile or None)
    except (OSError, ssl.SSLError) as exc:
        raise fatal(f"kit-purge-cafile {cafile}: {getattr(exc, 'strerror', None) or exc}; give the site's ca.pem")
    senders = [PurgeSender(one, secret, threadlog, verify=verify,
                           tls_name=getattr(args, "kit_purge_tls_name", None) or "") for one in urls]
    xom.thread_pool.register(CommitFollower(xom.keyfs, ChangeWatcher(xom.keyfs, Fanout(senders)), threadlog))
    for sender in senders:
        xom.thread_pool.register(sender)
    pyramid_config.registry["kit_purge"] = senders
    threadlog.info("kit-purge: purging changed pages at %s (secret from %s)", " and ".join(urls), path)


@hookimpl
def devpiserver_metrics(request):
    xom = request.registry["xom"]
    metrics = []
    # Looked up step by step: a devpi whose replica kit does not know still answers /+status.
    shared_data = getattr(getattr(xom, "replica_thread", None), "shared_data", None)
    pending = replica.files_pending(shared_data) if xom.is_replica() else None
    if pending is not None:
        metrics.append((replica.FILES_PENDING, "gauge", pending))
    senders = request.registry.get("kit_purge")
    if not senders:
        return metrics
    return metrics + [
        ("kit_purge_requests_total", "counter", sum(s.stats["requests"] for s in senders)),
        ("kit_purge_failures_total", "counter", sum(s.stats["failures"] for s in senders)),
        ("kit_purge_keys_total", "counter", sum(s.stats["keys"] for s in senders)),
        ("kit_purge_pending_keys", "gauge", sum(s.pending() for s in senders)),
    ]

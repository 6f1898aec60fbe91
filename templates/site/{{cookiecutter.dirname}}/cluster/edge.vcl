{%- set k = cookiecutter._kit -%}
vcl 4.1;
# The site's Varnish edge: the rules of kit's own edge (the kit/edge/ package), in VCL.
# `kit up` runs it as: varnishd -F -j none -f THIS FILE ... (kit.site.plan.varnishd_argv);
# `kit init` rewrites this file: change the answers, not the file.
# It holds the purge secret: keep it 0600.
#
# - Index pages are cached per representation (PEP 691 JSON or HTML, from
#   the Accept header; never per User-Agent) for 5 s, and dropped at once
#   when devpi's purge plugin says a commit changed them (kept for the
#   stale-on-error rule below, never served otherwise). Each page carries
#   xkey tags (USER/INDEX, USER/INDEX/PROJECT, USER/INDEX/*): a purge drops
#   exactly the tagged pages, in time proportional to them. A ban would be
#   kept and tested against every cached object until all were checked.
# - Team pages, package files and wheels' core metadata (WHEEL.metadata,
#   PEP 658) go shield -> master -> mirror. The shield (kit's edge behind
#   Varnish) serves pages as kit's edge does: PEP 700 sizes and upload
#   times, PEP 629's <meta>, core metadata for every wheel; it reads them
#   from master, then mirror, then its static copy of the team indexes.
#   Health probes skip a dead backend; a read that fails is retried on the
#   next at once. Pages master or mirror send straight here (the shield
#   down) are devpi's own, kept 5 s like the shield's.
# - When every origin fails, a page seen before is served stale (grace).
# - Files and metadata come from the shield, which checks a file's bytes
#   against the sha256 its index publishes (and extracts metadata from
#   checked wheels only) before they reach Varnish; both are kept a year
#   (their URLs never change content). When the shield is down they come
#   from the master, then the mirror, unchecked by kit (the client checks
#   the sha256 of the page) and so never kept.
# - /mirror/ (the public mirror) is served by the shield, from disk.
# - With read_access team or site, every read under /USER/INDEX/ is passed
#   to the shield (it authorises each one) and nothing of it is cached here.
# - Only what an index is asked: request targets that are paths (no
#   absolute URL, no CONNECT host:port, no OPTIONS *) and the methods of
#   index clients; the rest is refused here, before any backend is asked.

import std;
import directors;
import xkey;
import var;

probe devpi_api {
    .url = "/+api";
    .interval = 1s;
    .timeout = 1s;
    .window = 3;
    .threshold = 2;
    .initial = 2;
}

probe edge_health {
    .url = "/+edge/health";
    .interval = 1s;
    .timeout = 1s;
    .window = 3;
    .threshold = 2;
    .initial = 2;
}

backend master {
    .host = "127.0.0.1";
    .port = "{{ k.master_port }}";
    .probe = devpi_api;
    .connect_timeout = 1s;
    .first_byte_timeout = 10s;
    .between_bytes_timeout = 10s;
}

# The master again, without a probe, for writes: a backend its probe calls
# sick is never even tried, and for the seconds after a restart (or a probe
# lost to a busy master) uploads would get 503 from here, not the master's
# answer. A write is the master's to refuse.
backend master_writes {
    .host = "127.0.0.1";
    .port = "{{ k.master_port }}";
    .connect_timeout = 1s;
    .first_byte_timeout = 300s;
    .between_bytes_timeout = 10s;
}

backend mirror {
    .host = "127.0.0.1";
    .port = "{{ k.mirror_port }}";
    .probe = devpi_api;
    .connect_timeout = 1s;
    .first_byte_timeout = 10s;
    .between_bytes_timeout = 10s;
}

backend shield {
    .host = "127.0.0.1";
    .port = "{{ k.shield_port }}";
    .probe = edge_health;
    .connect_timeout = 1s;
    # The shield may itself wait for a dead master once before it falls over.
    .first_byte_timeout = 30s;
    .between_bytes_timeout = 10s;
}

# Purges come from devpi on this machine only, and carry the shared secret.
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_init {
    # What Varnish does not cache (devpi's own pages: /+api, other spellings).
    new origins = directors.fallback();
    origins.add_backend(master);
    origins.add_backend(mirror);
    origins.add_backend(shield);
    # Pages, files, metadata: the shield serves them as kit's edge does and
    # checks files; without it, devpi's own.
    new shield_first = directors.fallback();
    shield_first.add_backend(shield);
    shield_first.add_backend(master);
    shield_first.add_backend(mirror);
}

sub vcl_recv {
    # The hot path (a page, warm) costs three regular expressions and no
    # copy: each one here is measurable in requests a second.
    if (req.restarts == 0) {
        # kit's own request headers: never taken from a client.
        unset req.http.X-Kit-Kind;
        unset req.http.X-Kit-Stale;
        unset req.http.X-Kit-Cache;
        unset req.http.X-Kit-Tried;
    }
{%- if k.tls %}
    # An https site: clients come through hitch (TLS) on the socket named "tls"; plain
    # http is redirected, but for the edge's own paths asked from this machine
    # (kit's health checks, devpi's purges).
    if (local.socket != "tls" && !(req.url ~ "^/\+edge/" && client.ip ~ purgers)) {
        return (synth(308, "https"));
    }
{%- endif %}
    # pip asks for /USER/INDEX/%2Bf/...: one spelling of the path, one cached object.
    if (req.url ~ "%2[Bb]") {
        set req.url = regsuball(req.url, "%2[Bb]", "+");
    }
    if (req.method != "GET" && req.method != "HEAD") {
        # What twine and devpi's client send besides reads; CONNECT,
        # OPTIONS, TRACE and the rest are no index's business.
        if (req.method != "POST" && req.method != "PUT" && req.method != "PATCH"
            && req.method != "DELETE" && req.method != "PUSH") {
            return (synth(405, "not a method of a package index"));
        }
        call kit_origin_form;
        if (req.url == "/+edge/purge") {
            call kit_purge;
        }
        # Uploads, logins, index changes: the master's, never cached.
        set req.http.X-Kit-Kind = "write";
        return (pass);
    }
{%- if k.answers.read_access != "anonymous" %}
    if (req.url ~ "^/[^/+][^/]*/[^/?#]+" && req.url !~ "^/mirror/") {
        # read_access = {{ k.answers.read_access }}: a read under /USER/INDEX/ depends on
        # who asks. Never looked up, never cached here: passed to the shield,
        # which authorises every read (devpi's /+authcheck) before it serves.
        call kit_origin_form;
        set req.http.X-Kit-Kind = "private";
        return (pass);
    }
{%- endif %}
    if (req.url ~ "^/[^/+][^/]*/[^/]+/\+simple/([a-z0-9]+(-[a-z0-9]+)*/)?$") {
        # An index's root page, or a project's under its PEP 503-normalised
        # name (devpi answers the other spellings itself, uncached).
        set req.http.X-Kit-Kind = "page";
        call kit_representation;
    } elsif (req.url ~ "^/[^/+][^/]*/[^/]+/\+f/[^/?#]+/[^?#]*\.whl\.metadata$") {
        # A wheel's core metadata (PEP 658/714), which the pages advertise.
        set req.http.X-Kit-Kind = "metadata";
    } elsif (req.url ~ "^/[^/+][^/]*/[^/]+/\+f/[^/?#]+/[^?#]*$") {
        set req.http.X-Kit-Kind = "file";
    } elsif (req.url ~ "^/mirror/[^?#]*$") {
        set req.http.X-Kit-Kind = "mirror";
        call kit_representation;
    } elsif (req.url == "/+edge/health") {
        return (synth(200, "health"));
    } elsif (req.url == "/+edge/purge") {
        call kit_purge;
    } elsif (req.url ~ "^/\+edge/") {
        return (synth(404, "not found"));
    } else {
        # Everything else, and any query string: never fills the cache.
        call kit_origin_form;
        set req.http.X-Kit-Kind = "other";
        return (pass);
    }
    call kit_authorize;
    if (req.http.X-Kit-Stale) {
        # Every origin failed this request once: what was seen before will do.
        set req.grace = 7d;
    } else {
        # Stale only on error, never while revalidating: a purged or expired
        # page is fetched before anyone sees it again.
        set req.grace = 0s;
    }
    # Cached answers do not depend on who asks (see kit_authorize); Varnish's
    # built-in rule would pass every request that carries credentials.
    return (hash);
}

# The request target must be a path on this index (RFC 9112's origin form):
# not an absolute URL (what a proxy is asked), not CONNECT's host:port, not
# OPTIONS' "*", nor a path a URL parser could read as a host ("//host",
# "/\host"). The page and file rules above match paths only, so this runs
# for the rest, never on the hot path.
sub kit_origin_form {
    if (req.url !~ "^/" || req.url ~ "^//" || req.url ~ "[\\#]") {
        return (synth(400, "the request target must be a path on this index, not a URL, a host or *"));
    }
}

# Who may read what is cached: with read_access = anonymous every index is
# readable by everyone who reaches the edge, so this lets every request
# through. With private reads no index path gets here: vcl_recv passes them
# to the shield, which asks devpi's /+authcheck (kit/edge/auth.py).
sub kit_authorize {
}

# PEP 691: JSON for clients that prefer it, HTML for the rest: the choice
# kit's edge makes (kit.edge.cache.representation), quality values and all,
# the "latest" aliases naming v1. Accept is then rewritten to exactly one of
# the two, so each page has two cached variants however many ways pip, uv and
# browsers spell their Accept. An Accept naming nothing a page is served as
# (with a quality above 0) gets 406 here, as from kit's edge
# (kit.edge.simple_api.acceptable), PyPI and CodeArtifact.
{%- macro quality(media, into) %}
    if (req.http.Accept ~ "(?i)(^|,)\s*{{ media }}\s*(;|,|$)") {
        set req.http.X-Kit-Q = regsub(req.http.Accept, "(?i)^(.*,)?\s*{{ media }}\s*(;[^,]*)?(,.*)?$", "\2");
        if (req.http.X-Kit-Q ~ "(?i);\s*q\s*=") {
            set req.http.X-Kit-Q = regsub(req.http.X-Kit-Q, "(?i)^.*;\s*q\s*=\s*([^;\s]*).*$", "\1");
        } else {
            set req.http.X-Kit-Q = "1";
        }
        if (std.real(req.http.X-Kit-Q, 0) > std.real(req.http.{{ into }}, -1)) {
            set req.http.{{ into }} = req.http.X-Kit-Q;
        }
    }
{%- endmacro %}
sub kit_representation {
    # What pip, uv and kit itself send, and the two rewritten forms: answered
    # by comparing strings, the regular expressions below only for the rest
    # (on a warm page they would cost a fifth of Varnish's requests a second).
    if (!req.http.Accept || req.http.Accept == "" || req.http.Accept == "text/html" || req.http.Accept ~ "^\s*$") {
        set req.http.Accept = "text/html";
        return;
    }
    if (req.http.Accept == "application/vnd.pypi.simple.v1+json"
        || req.http.Accept == "application/vnd.pypi.simple.latest+json"
        || req.http.Accept == "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
        || req.http.Accept == "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01") {
        set req.http.Accept = "application/vnd.pypi.simple.v1+json";
        return;
    }
    set req.http.X-Kit-Json = "-1";
    set req.http.X-Kit-Html = "-1";
    set req.http.X-Kit-Other = "-1";
{{- quality("application/vnd\\.pypi\\.simple\\.v1\\+json", "X-Kit-Json") }}
{{- quality("application/vnd\\.pypi\\.simple\\.latest\\+json", "X-Kit-Json") }}
{{- quality("application/vnd\\.pypi\\.simple\\.v1\\+html", "X-Kit-Html") }}
{{- quality("application/vnd\\.pypi\\.simple\\.latest\\+html", "X-Kit-Html") }}
{{- quality("text/html", "X-Kit-Html") }}
{{- quality("text/\\*", "X-Kit-Html") }}
{{- quality("\\*/\\*", "X-Kit-Html") }}
{{- quality("application/\\*", "X-Kit-Other") }}
    if (req.http.X-Kit-Kind == "page" && std.real(req.http.X-Kit-Json, -1) <= 0
        && std.real(req.http.X-Kit-Html, -1) <= 0 && std.real(req.http.X-Kit-Other, -1) <= 0) {
        return (synth(406, "Not Acceptable"));
    }
    if (std.real(req.http.X-Kit-Json, -1) > 0 && std.real(req.http.X-Kit-Json, -1) > std.real(req.http.X-Kit-Html, -1)) {
        set req.http.Accept = "application/vnd.pypi.simple.v1+json";
    } else {
        set req.http.Accept = "text/html";
    }
    unset req.http.X-Kit-Q;
    unset req.http.X-Kit-Json;
    unset req.http.X-Kit-Html;
    unset req.http.X-Kit-Other;
}

sub kit_purge {
    if (req.method != "POST") {
        return (synth(405, "purge needs POST"));
    }
    if (client.ip !~ purgers) {
        return (synth(403, "purge refused: only devpi on this machine may purge"));
    }
    if (req.http.Authorization !~ "^(?i)bearer +[^ ]") {
        return (synth(401, "purge needs the header Authorization: Bearer <the edge's purge secret>"));
    }
    if (req.http.Authorization != "Bearer " + {{ k.purge_secret | vcl }}) {
        return (synth(403, "purge refused: wrong secret"));
    }
    if (!req.http.Xkey-Purge) {
        return (synth(400, "purge needs the header Xkey-Purge: KEY ... (kit's devpi plugin sends it)"));
    }
    # Soft: a purged page is never served while an origin answers (grace is
    # 0 s then), but is still there for a day when none does.
    set req.http.X-Kit-Purged = xkey.softpurge(req.http.Xkey-Purge);
    # The newest serial a purge covered: a page fetched at an older serial
    # predates it and is not kept (it may have left the origin before the
    # change and arrived after the purge).
    if (std.integer(req.http.X-Kit-Serial, -1) > std.integer(var.global_get("purged_serial"), -1)) {
        var.global_set("purged_serial", req.http.X-Kit-Serial);
    }
    std.log("kit-purge: serial " + req.http.X-Kit-Serial + ": " + req.http.Xkey-Purge + ": "
            + req.http.X-Kit-Purged + " objects");
    return (synth(200, "purged"));
}

sub vcl_hash {
    # The path alone: the same page whatever Host name a client used.
    # Representations are told apart by Vary: Accept.
    hash_data(req.url);
    return (lookup);
}

sub vcl_hit {
    if (obj.ttl <= 0s) {
        set req.http.X-Kit-Cache = "STALE";
    } else {
        set req.http.X-Kit-Cache = "HIT";
    }
}

sub vcl_miss {
    set req.http.X-Kit-Cache = "MISS";
}

sub vcl_pass {
    set req.http.X-Kit-Cache = "PASS";
}

sub vcl_backend_fetch {
    set bereq.http.X-Outside-Url = {{ k.base_url | vcl }};
    if (bereq.http.X-Kit-Kind == "write") {
        # Writes go to the master only, even one its probe calls sick.
        set bereq.backend = master_writes;
    } elsif (bereq.http.X-Kit-Kind == "mirror" || bereq.http.X-Kit-Kind == "private") {
        set bereq.backend = shield;
    } elsif (bereq.http.X-Kit-Kind ~ "^(page|file|metadata)$") {
        # shield -> master -> mirror: the first healthy one, then on a failed
        # fetch the next after the one that failed.
        if (bereq.retries == 0) {
            set bereq.backend = shield_first.backend();
        } elsif (bereq.http.X-Kit-Tried == "shield") {
            set bereq.backend = master;
        } else {
            set bereq.backend = mirror;
        }
    } elsif (bereq.retries == 0) {
        set bereq.backend = origins.backend();
    } elsif (bereq.retries == 1 && bereq.http.X-Kit-Tried == "master") {
        set bereq.backend = mirror;
    } else {
        set bereq.backend = shield;
    }
}

sub vcl_backend_response {
    if (beresp.status >= 500 && bereq.http.X-Kit-Kind == "metadata" && beresp.backend.name == "shield") {
        # The shield's word (metadata that disagrees with its page's sha256, a wheel it
        # could not fetch): never asked of devpi instead, never kept.
        set beresp.http.X-Served-By = "shield/" + beresp.http.X-Served-By;
        set beresp.ttl = 0s;
        set beresp.grace = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    if (beresp.status >= 500 && bereq.http.X-Kit-Kind != "write" && bereq.retries < 2) {
        # The backend that failed, by name (a director's pick is known only here).
        set bereq.http.X-Kit-Tried = beresp.backend.name;
        return (retry);
    }
    if (beresp.status >= 500 && bereq.http.X-Kit-Kind ~ "^(page|file|mirror|metadata)$") {
        # No origin answered: the client side serves a stale page if it has one.
        return (abandon);
    }
    if (beresp.backend.name == "shield") {
        # The shield names where it took the answer from (its cache, an origin, the static copy).
        set beresp.http.X-Served-By = "shield/" + beresp.http.X-Served-By;
    } elsif (beresp.backend.name == "master_writes") {
        set beresp.http.X-Served-By = "master";
    } else {
        set beresp.http.X-Served-By = beresp.backend.name;
    }
    if (bereq.http.X-Kit-Kind == "private") {
        # Passed, so never stored; said again should anything above change.
        set beresp.uncacheable = true;
        set beresp.ttl = 0s;
        set beresp.grace = 0s;
        return (deliver);
    }
    if (bereq.http.X-Kit-Kind == "page") {
        set beresp.http.Vary = "Accept";
        if (beresp.http.Content-Encoding == "gzip") {
            # The shield sent its gzip bytes (compressed once, there), tagged "TAG-gzip":
            # kept under the page's own tag, which vcl_deliver names per encoding as the shield does.
            set beresp.http.ETag = regsub(beresp.http.ETag, {"-gzip"$"}, {"""});
        }
        call kit_gzip;
        if (beresp.status != 200 || beresp.http.X-Served-By ~ "static-copy"
            || (beresp.backend.name == "shield" && beresp.http.X-Cache == "STALE")) {
            # Not kept: the static copy answers only until an origin is back, and a
            # page the shield serves stale (master and mirror failed it) only this once.
            set beresp.ttl = 0s;
            set beresp.grace = 0s;
        } else {
            # The page's keys, as devpi's purge plugin names them.
            if (bereq.url ~ "/\+simple/$") {
                set beresp.http.xkey = regsub(bereq.url, "^/([^/]+)/([^/]+)/.*$", "\1/\2 \1/\2/*");
            } else {
                set beresp.http.xkey = regsub(bereq.url, "^/([^/]+)/([^/]+)/\+simple/([^/]+)/$", "\1/\2/\3 \1/\2/*");
            }
            set beresp.ttl = 5s;
            set beresp.grace = 7d;
            if (std.integer(beresp.http.X-Devpi-Serial, -1) < std.integer(var.global_get("purged_serial"), -1)) {
                # Older than the newest purge: keep it for bad days only.
                set beresp.ttl = 0s;
            }
        }
        return (deliver);
    }
    if (bereq.http.X-Kit-Kind ~ "^(file|metadata)$") {
        if (beresp.status == 200 && beresp.backend.name == "shield") {
            set beresp.ttl = 365d;
        } elsif (beresp.status == 200) {
            # The shield was down: bytes kit did not check are passed on
            # (pip and uv check the page's sha256), never kept. For a
            # second, requests for it go straight to the backend too.
            set beresp.uncacheable = true;
            set beresp.ttl = 1s;
            set beresp.grace = 0s;
        } else {
            set beresp.ttl = 0s;
            set beresp.grace = 0s;
        }
        return (deliver);
    }
    if (bereq.http.X-Kit-Kind == "mirror") {
        # bandersnatch rewrites pages in place and never a file.
        if (beresp.status == 200 && bereq.url ~ "^/mirror/packages/") {
            set beresp.ttl = 365d;
        } elsif (beresp.status == 200) {
            call kit_gzip;
            set beresp.ttl = 5s;
            set beresp.grace = 7d;
        } else {
            set beresp.ttl = 0s;
            set beresp.grace = 0s;
        }
        return (deliver);
    }
}

# Pages of 4 KiB and more (kit.edge.cache.GZIP_MIN) are kept gzip-encoded,
# compressed once as they are fetched: Varnish sends the stored bytes to
# clients that take gzip (pip and uv do) and decompresses them for the rest,
# adding Accept-Encoding to Vary itself (and making the ETag weak). devpi
# sends its pages chunked, with no Content-Length: their size is not known
# before they are read, and they are all compressed (a page read here is
# compressed once however many clients read it, and a small one costs little).
sub kit_gzip {
    if (beresp.status == 200 && !beresp.http.Content-Encoding
        && std.integer(beresp.http.Content-Length, 4096) >= 4096
        && beresp.http.Content-Type ~ "^(text/html|application/vnd\.pypi\.simple\.v1\+json|application/json)") {
        set beresp.do_gzip = true;
    }
}

sub vcl_backend_error {
    if (bereq.http.X-Kit-Kind != "write" && bereq.retries < 2) {
        set bereq.http.X-Kit-Tried = beresp.backend.name;
        return (retry);
    }
    if (bereq.http.X-Kit-Kind ~ "^(page|file|mirror|metadata)$") {
        return (abandon);
    }
    set beresp.http.Content-Type = "text/plain; charset=utf-8";
    set beresp.http.Retry-After = "5";
    if (bereq.http.X-Kit-Kind == "write") {
        # The words kit's own edge uses: twine shows the reason phrase.
        set beresp.reason = "Master down, uploads paused";
        synthetic("kit edge (varnish): the master is not answering, so uploads and changes cannot be made "
                  + "now; installs keep working from the mirror. Retry when `kit status` shows the master "
                  + "healthy." + {"
"});
    } else {
        synthetic("kit edge (varnish): no origin answered (master, mirror, shield); see kit status" + {"
"});
    }
    return (deliver);
}

sub vcl_deliver {
    unset resp.http.xkey;
    unset resp.http.Via;
    if (resp.http.Content-Encoding == "gzip" && resp.http.ETag && req.http.X-Kit-Kind ~ "^(page|mirror)$") {
        # A page stored gzip-encoded: the gzip bytes get their own tag, as from kit's
        # edge; a tag of either encoding makes a conditional GET a 304 (which
        # Varnish decides after this, from the tag sent and If-None-Match).
        unset req.http.X-Kit-Named;
        set req.http.X-Kit-Plain = regsub(resp.http.ETag, "^W/", "");
        set req.http.X-Kit-Gzip = regsub(req.http.X-Kit-Plain, {""$"}, {"-gzip""});
        if (req.http.If-None-Match && (regsub(req.http.If-None-Match, "^W/", "") == req.http.X-Kit-Plain
            || regsub(req.http.If-None-Match, "^W/", "") == req.http.X-Kit-Gzip)) {
            set req.http.X-Kit-Named = "1";
        }
        if (req.http.Accept-Encoding ~ "gzip") {
            set resp.http.ETag = regsub(resp.http.ETag, {""$"}, {"-gzip""});
        }
        if (req.http.X-Kit-Named) {
            set req.http.If-None-Match = resp.http.ETag;
        }
        unset req.http.X-Kit-Plain;
        unset req.http.X-Kit-Gzip;
        unset req.http.X-Kit-Named;
    }
    if (req.http.X-Kit-Kind == "page") {
        set resp.http.Cache-Control = "max-age=0, must-revalidate";
    }
    if (req.http.X-Kit-Kind == "file" || req.http.X-Kit-Kind == "metadata") {
        set resp.http.Cache-Control = "max-age=31536000, immutable";
    }
    if (req.http.X-Kit-Kind == "page" && resp.http.X-Cache == "STALE") {
        # The shield's own stale page (master and mirror both failed it).
        set req.http.X-Kit-Cache = "STALE";
    }
    if (req.http.X-Kit-Kind == "private" && resp.http.X-Cache) {
        # Passed here, answered by the shield from its cache (HIT, STALE...):
        # the shield's word is the one that tells the client how fresh it is.
        set req.http.X-Kit-Cache = resp.http.X-Cache;
    }
    set resp.http.X-Cache = req.http.X-Kit-Cache;
    if (req.http.X-Kit-Cache == "STALE") {
        set resp.http.Warning = {"111 - "Revalidation Failed""};
    }
}

sub vcl_synth {
    if (resp.status == 503 && req.http.X-Kit-Kind ~ "^(page|file|mirror|metadata)$" && !req.http.X-Kit-Stale) {
        # Every origin failed: once more, taking what was seen before.
        set req.http.X-Kit-Stale = "1";
        return (restart);
    }
{%- if k.tls %}
    if (resp.status == 308) {
        set resp.http.Location = "{{ k.base_url }}" + req.url;
        set resp.reason = "Permanent Redirect";
        set resp.http.Content-Type = "text/plain; charset=utf-8";
        synthetic("kit edge (varnish): this site is served over TLS: " + resp.http.Location + {"
"});
        return (deliver);
    }
{%- endif %}
    if (resp.reason == "health") {
        set resp.reason = "OK";
        set resp.http.Content-Type = "application/json";
        set resp.http.Cache-Control = "no-store";
        synthetic({"{"edge": "varnish", "origins": {"master": "} + std.healthy(master)
                  + {", "mirror": "} + std.healthy(mirror) + {", "shield": "} + std.healthy(shield) + {"}}
"});
        return (deliver);
    }
    if (req.url == "/+edge/purge" && resp.status == 200) {
        set resp.http.Content-Type = "application/json";
        synthetic({"{"purged": "} + req.http.X-Kit-Purged + {"}
"});
        return (deliver);
    }
    set resp.http.Content-Type = "text/plain; charset=utf-8";
    if (resp.status == 406) {
        set resp.http.Vary = "Accept";
        synthetic("kit edge (varnish): this index serves pages as application/vnd.pypi.simple.v1+json or "
                  + "text/html; ask for one in Accept" + {"
"});
        return (deliver);
    }
    if (resp.status == 405) {
        if (req.url == "/+edge/purge") {
            set resp.http.Allow = "POST";
        } else {
            set resp.http.Allow = "DELETE, GET, HEAD, PATCH, POST, PUSH, PUT";
        }
    }
    if (resp.status == 503) {
        set resp.http.Retry-After = "5";
        synthetic("kit edge (varnish): no origin answered (master, mirror, shield) and nothing stale is "
                  + "cached; see kit status" + {"
"});
    } else {
        synthetic(resp.reason + {"
"});
    }
    return (deliver);
}

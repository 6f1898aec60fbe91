"""The site CA and server certificates (kit/site/tls.py), the TLS answers, and what an https site
renders: checked with the ``cryptography`` library and Python's own TLS verification, no process."""

from __future__ import annotations

import datetime
import json
import ssl

import pytest
from cryptography import x509

from kit.core.errors import AnswerError
from kit.site import tls
from kit.site.answers import answers_from_raw
from kit.site.plan import edge_config, services_of


def test_a_server_certificate_is_verified_with_the_site_ca_for_every_local_name(tmp_path):
    ca = tls.make_ca("room")
    server = tls.make_server(ca, "room.lan")
    cert = x509.load_pem_x509_certificate(server.cert.encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["room.lan", "localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert.encode()))
    # Python's own TLS stack: a server context loads the pair, a client context trusts the CA.
    (tmp_path / "s.pem").write_text(server.cert)
    (tmp_path / "k.pem").write_text(server.key)
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tmp_path / "s.pem", tmp_path / "k.pem")
    ssl.create_default_context(cadata=ca.cert)
    assert 364 < tls.days_left(server.cert) <= 365


def test_a_server_certificate_is_kept_only_while_it_fits():
    ca, other = tls.make_ca("room"), tls.make_ca("other")
    server = tls.make_server(ca, "room.lan")
    assert tls.server_fits(server, ca, "room.lan")
    assert not tls.server_fits(server, ca, "other.lan")  # the host changed
    assert not tls.server_fits(server, other, "room.lan")  # another CA
    assert not tls.server_fits(tls.Pair(server.cert, tls.make_server(ca, "room.lan").key), ca, "room.lan")
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=340)
    assert not tls.server_fits(server, ca, "room.lan", now=soon)  # within RENEW_DAYS of its end
    assert not tls.server_fits(tls.Pair("", ""), ca, "room.lan")


def test_expiry_reads_a_chain_leaf_and_refuses_what_is_no_certificate():
    ca = tls.make_ca("room")
    server = tls.make_server(ca, "h")
    assert tls.expiry(server.cert + ca.cert) == x509.load_pem_x509_certificate(server.cert.encode()).not_valid_after_utc
    with pytest.raises(ValueError):
        tls.expiry("not a certificate")


def test_scheme_is_https_by_default_for_a_host_other_machines_reach():
    assert answers_from_raw({"host": "room.lan"}).scheme == "https"
    assert answers_from_raw({"host": "10.0.0.5"}).scheme == "https"
    assert answers_from_raw({}).scheme == "http"  # 127.0.0.1
    assert answers_from_raw({"host": "room.lan", "scheme": "http"}).scheme == "http"  # asked for


def test_the_operators_certificate_is_checked_as_an_answer(tmp_path):
    ca = tls.make_ca("room")
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    cert.write_text(ca.cert)
    key.write_text(ca.key)
    answers = answers_from_raw({"host": "room.lan", "tls_cert": str(cert), "tls_key": str(key)})
    assert (answers.tls_cert, answers.site_ca) == (str(cert), False)
    for raw, words in [({"host": "room.lan", "tls_cert": str(cert)}, "tls_key: tls_cert is given but not its key"),
                       ({"host": "room.lan", "tls_key": str(key)}, "tls_key: a key without its certificate"),
                       ({"host": "room.lan", "tls_cert": str(key), "tls_key": str(key)}, "holds no PEM certificate"),
                       ({"host": "room.lan", "tls_cert": str(tmp_path / "x.pem")}, "tls_cert"),
                       ({"scheme": "http", "tls_cert": str(cert)}, "is for an https site")]:
        with pytest.raises(AnswerError, match=words):
            answers_from_raw(raw)


def test_the_redirect_port_clashes_only_when_it_is_used():
    with pytest.raises(AnswerError, match="http_port: port 3143 is already used by edge_port"):
        answers_from_raw({"host": "room.lan", "http_port": 3143})
    assert answers_from_raw({"http_port": 3143}).http_port == 3143  # http: no redirect listens


def test_an_https_edge_serves_tls_redirects_plain_http_and_is_checked_there(tmp_path):
    answers = answers_from_raw({"host": "room.lan", "http_port": 8080})
    config = json.loads(edge_config(answers).to_json())
    assert (config["tls_cert"], config["tls_key"]) == ("../tls/server.pem", "../tls/server-key.pem")
    assert (config["redirect_host"], config["redirect_port"]) == ("0.0.0.0", 8080)
    edge = next(s for s in services_of(answers, tmp_path) if s.name == "edge")
    assert edge.health_url == "http://127.0.0.1:8080/+edge/health"
    plain = edge_config(answers_from_raw({}))
    assert (plain.tls_cert, plain.redirect_port) == ("", 0)


def test_expiring_names_what_ends_within_the_warning_days(tmp_path):
    ca = tls.make_ca("room")
    now = datetime.datetime.now(datetime.timezone.utc)
    files = {}
    for name, made in [("fresh", now), ("ending", now - datetime.timedelta(days=355)),
                       ("ended", now - datetime.timedelta(days=400))]:
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(tls.make_server(ca, "h", now=made).cert)
    files["missing"] = tmp_path / "missing.pem"
    found = dict(tls.expiring({k: str(v) for k, v in files.items()}))
    assert set(found) == {"ending", "ended", "missing"}
    assert found["ending"].endswith("in 10 days") and " expired on " in found["ended"]
    assert "cannot be read (No such file or directory)" in found["missing"]

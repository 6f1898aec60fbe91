"""A site's TLS material, made with the ``cryptography`` library: a site CA for a
lab or a classroom (clients are handed its certificate, ``ca.pem``), a server
certificate for the site's host signed by it, and the expiry dates ``kit check``
and ``kit status`` warn about.

Pure: PEM text in, PEM text out; where the files live and with which modes is
:mod:`kit.site.render`'s business (see :data:`kit.site.folder.SITE_TLS`).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CA_DAYS", "SERVER_DAYS", "RENEW_DAYS", "WARN_DAYS", "Pair", "make_ca", "make_server",
           "expiry", "server_fits", "local_names", "days_left"]

#: The site CA lasts ten years: handed out once to every machine of a room.
CA_DAYS = 3650
#: A server certificate lasts about a year (what browsers accept at most, 397 days).
SERVER_DAYS = 365
#: ``kit init`` on an existing site makes a new server certificate this close to its expiry.
RENEW_DAYS = 30
#: ``kit check`` and ``kit status`` name a certificate this close to its expiry.
WARN_DAYS = 14

#: The names the site's own services reach the edge by, on the machine itself.
_LOCAL_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class Pair:
    """A certificate and its private key, both PEM text."""

    cert: str
    key: str


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def make_ca(site_name: str, *, days: int = CA_DAYS, now: datetime.datetime | None = None) -> Pair:
    """A new site CA, named after the site; it signs the site's server certificates only
    (path length 0: no CA below it)."""
    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kit site CA {site_name}"[:64]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kit")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Pair(_cert_pem(cert), _key_pem(key))


def local_names(host: str) -> list[str]:
    """The names a server certificate for ``host`` carries: the host, then what the site's own
    services on the machine use (``localhost``, ``127.0.0.1``)."""
    return [host] + [name for name in _LOCAL_NAMES if name != host]


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_server(ca: Pair, host: str, *, days: int = SERVER_DAYS, now: datetime.datetime | None = None) -> Pair:
    """A server certificate for ``host`` (and the local names), signed by the site CA ``ca``."""
    now = now or _now()
    ca_cert = x509.load_pem_x509_certificate(ca.cert.encode())
    ca_key = serialization.load_pem_private_key(ca.key.encode(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in local_names(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return Pair(_cert_pem(cert), _key_pem(key))


def expiry(cert_pem: str | bytes) -> datetime.datetime:
    """When the first certificate of ``cert_pem`` (a chain's leaf) expires; ValueError if it holds none."""
    data = cert_pem.encode() if isinstance(cert_pem, str) else cert_pem
    return x509.load_pem_x509_certificate(data).not_valid_after_utc


def days_left(cert_pem: str | bytes, now: datetime.datetime | None = None) -> float:
    return (expiry(cert_pem) - (now or _now())).total_seconds() / 86400


def server_fits(server: Pair, ca: Pair, host: str, *, now: datetime.datetime | None = None,
                renew_days: int = RENEW_DAYS) -> bool:
    """Whether an existing server certificate can be kept: signed by this CA, its key the
    certificate's, naming the site's names, and not within ``renew_days`` of its expiry."""
    try:
        cert = x509.load_pem_x509_certificate(server.cert.encode())
        ca_cert = x509.load_pem_x509_certificate(ca.cert.encode())
        key = serialization.load_pem_private_key(server.key.encode(), password=None)
        cert.verify_directly_issued_by(ca_cert)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):  # unreadable, or another CA's
        return False
    if key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            cert.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo):
        return False
    wanted = {_general_name(n) for n in local_names(host)}
    return wanted <= set(names) and days_left(server.cert, now) > renew_days


def expiring(certificates: dict[str, str], *, within_days: float = WARN_DAYS,
             now: datetime.datetime | None = None) -> list[tuple[str, str]]:
    """Each of ``certificates`` (what it is → its PEM file) that expires within ``within_days``
    (or has, or cannot be read), as (what, problem in words)."""
    now = now or _now()
    found = []
    for what, path in certificates.items():
        try:
            with open(path, "rb") as handle:
                ends = expiry(handle.read())
        except (OSError, ValueError) as exc:
            found.append((what, f"{path} cannot be read ({getattr(exc, 'strerror', None) or exc})"))
            continue
        left = (ends - now).total_seconds() / 86400
        when = ends.strftime("%Y-%m-%d")
        if left <= 0:
            found.append((what, f"{path} expired on {when}"))
        elif left <= within_days:
            found.append((what, f"{path} expires on {when}, in {left:.0f} day{'s' * (round(left) != 1)}"))
    return found

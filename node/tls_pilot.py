"""A private certificate authority for pilots on private hosts, tests and the demo.

``trustlane node init --tls self-signed`` and the demo both use :class:`PilotCA`: a CA made
for one node (or one demo run) that issues the server certificate for the base URL's host
(an IP address or a DNS name); the CA certificate is the bundle partners pin for this peer
(``--ca-bundle`` on ``registry peer add``, or ``ca_bundle`` in ``federation.toml``).

Keys are EC P-256 (what every TLS stack accepts). A CA made for one host carries a name
constraint for that host, so even someone holding its key could not use it for another
name; ``node init`` does not keep the CA key at all once the certificate is issued.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["PILOT_LIFETIME", "PilotCA", "host_name"]

#: How long ``node init --tls self-signed`` certificates (CA and server) are valid.
PILOT_LIFETIME = timedelta(days=365)

_DEMO_LIFETIME = timedelta(days=1)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def host_name(host: str) -> x509.GeneralName:
    """``host`` as a certificate name: an IP address, else a DNS name."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _constraint(host: str) -> x509.GeneralName:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return x509.DNSName(host)
    return x509.IPAddress(ipaddress.ip_network(f"{address}/{address.max_prefixlen}"))


@dataclass
class PilotCA:
    """A CA key and certificate; :meth:`issue` writes a server certificate for a host."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    lifetime: timedelta = _DEMO_LIFETIME

    @classmethod
    def create(
        cls,
        name: str = "trustlane demo CA",
        *,
        lifetime: timedelta = _DEMO_LIFETIME,
        only_host: str | None = None,
    ) -> PilotCA:
        """A fresh CA, valid from a minute ago for ``lifetime``.

        Args:
            name: The CA's common name.
            lifetime: How long the CA (and what it issues) is valid.
            only_host: Constrain the CA to this one host (IP or DNS name).
        """
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + lifetime)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        )
        if only_host is not None:
            builder = builder.add_extension(
                x509.NameConstraints(
                    permitted_subtrees=[_constraint(only_host)], excluded_subtrees=None
                ),
                critical=True,
            )
        return cls(key, builder.sign(key, hashes.SHA256()), lifetime)

    def bundle_pem(self) -> bytes:
        """The CA certificate as PEM (the bundle partners pin)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def write_bundle(self, path: Path) -> Path:
        """Write the CA certificate (the bundle partners pin) to ``path``."""
        path.write_bytes(self.bundle_pem())
        return path

    def issue(
        self,
        host: str,
        directory: Path,
        *,
        cert_name: str = "tls-cert.pem",
        key_name: str = "tls-key.pem",
    ) -> tuple[Path, Path]:
        """Write a certificate chain and its key (0600) for ``host`` (an IP or a DNS name)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(min(now + self.lifetime, self.certificate.not_valid_after_utc))
            .add_extension(x509.SubjectAlternativeName([host_name(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = directory / cert_name, directory / key_name
        cert_path.write_bytes(
            certificate.public_bytes(serialization.Encoding.PEM) + self.bundle_pem()
        )
        _write_private(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        return cert_path, key_path

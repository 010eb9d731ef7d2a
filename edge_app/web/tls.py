"""HTTPS for the operator console: a certificate the site provides, or a self-signed one Vigil makes once.

The self-signed certificate (ECDSA P-256, SHA-256, valid 825 days, the longest browsers accept) names the box's host
name, ``localhost``, 127.0.0.1, ::1 and the address the console listens on, and is kept in the Vigil home
(``data/tls/``, the key readable by its owner only), so browsers that were told to trust it once keep trusting it
across restarts. Made with ``cryptography`` (pyca).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
import ssl
from pathlib import Path

from edge_app.config import TlsSettings
from edge_app.errors import VigilError

log = logging.getLogger(__name__)


def self_signed(folder: Path, host: str) -> tuple[Path, Path]:
    """The self-signed certificate and key in ``folder`` (made when missing or expired); paths (cert, key). Raises
    VigilError when the folder cannot be written."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = folder / "vigil-self-signed.crt", folder / "vigil-self-signed.key"
    now = datetime.datetime.now(datetime.timezone.utc)
    if cert_path.is_file() and key_path.is_file():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if cert.not_valid_after_utc > now + datetime.timedelta(days=1):
                return cert_path, key_path
        except (ValueError, OSError):
            pass  # damaged: made again
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName(socket.gethostname())]
    addresses = {"127.0.0.1", "::1"} | ({host} if _is_ip(host) and host not in ("0.0.0.0", "::") else set())
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in sorted(addresses)]
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Vigil on {socket.gethostname()}"[:64])])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        raise VigilError(f"server.tls.self_signed_dir {folder}: cannot write ({exc.strerror})") from None
    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":")
    log.warning("made a self-signed certificate %s (SHA-256 %s): browsers warn until it is trusted", cert_path,
                fingerprint)
    return cert_path, key_path


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def server_context(settings: TlsSettings, host: str) -> ssl.SSLContext:
    """The TLS context of the console (TLS 1.2 and newer). Raises VigilError naming the key of a certificate or key
    file that is missing, unreadable or does not match."""
    if settings.cert is None:
        cert, key = self_signed(settings.self_signed_dir, host)
        which = "server.tls.self_signed_dir"
    else:
        cert, key = settings.cert, settings.key
        which = "server.tls.cert"
        for name, path in (("cert", cert), ("key", key)):
            if not Path(path).is_file():
                raise VigilError(f"server.tls.{name} {path}: no such file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        why = exc.reason if isinstance(exc, ssl.SSLError) else exc.strerror
        raise VigilError(f"{which} {cert}: cannot use it with {key} ({why or exc})") from None
    return context

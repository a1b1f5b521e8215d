#!/usr/bin/env python3
"""Make throw-away certificates for the OPC UA SignAndEncrypt tests (run at test time, into a
temporary folder; no private key is ever committed).

    make_test_certs.py OUTDIR

writes into OUTDIR:
  ca.der                 a test CA (its key is not kept); the bioreactor trusts client
                         certificates it signed (given with --trust)
  client.der client.pem  the atmpflow client: signed by the CA, URI urn:atmpflow:devices
  stranger.der stranger.pem
                         a client signed by another CA (the bioreactor must refuse it)
  server.der server.pem  the bioreactor: self-signed, URI urn:atmpflow:test-bioreactor,
                         IP 127.0.0.1
  other-server.der       another self-signed server certificate (a wrong pin)

RSA 2048 with SHA-256 signatures, as Basic256Sha256 asks; valid from one hour ago for two
days (the tests run now).
"""

import datetime
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT_URI = "urn:atmpflow:devices"
SERVER_URI = "urn:atmpflow:test-bioreactor"


def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def builder(subject, issuer, public_key):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
    )


def ca(cn):
    k = key()
    cert = (
        builder(name(cn), name(cn), k.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(k, hashes.SHA256())
    )
    return cert, k


def leaf(cn, uri, usage, issuer=None, ip=None):
    k = key()
    sans = [x509.UniformResourceIdentifier(uri), x509.DNSName("localhost")]
    if ip:
        sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
    issuer_cert, issuer_key = issuer if issuer else (None, k)
    b = (
        builder(name(cn), issuer_cert.subject if issuer_cert else name(cn), k.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=True,
                data_encipherment=True, key_agreement=False, key_cert_sign=not issuer,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    return b.sign(issuer_key, hashes.SHA256()), k


def write(out, stem, cert, k=None):
    (out / f"{stem}.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    if k is not None:
        (out / f"{stem}.pem").write_bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_test_certs.py OUTDIR")
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    test_ca = ca("atmpflow test CA")
    write(out, "ca", test_ca[0])
    write(out, "client", *leaf("atmpflow client", CLIENT_URI, ExtendedKeyUsageOID.CLIENT_AUTH, test_ca))
    other_ca = ca("someone else's CA")
    write(out, "stranger", *leaf("atmpflow client", CLIENT_URI, ExtendedKeyUsageOID.CLIENT_AUTH, other_ca))
    write(out, "server", *leaf("atmpflow test bioreactor", SERVER_URI, ExtendedKeyUsageOID.SERVER_AUTH,
                               ip="127.0.0.1"))
    other, _ = leaf("atmpflow test bioreactor", SERVER_URI, ExtendedKeyUsageOID.SERVER_AUTH, ip="127.0.0.1")
    write(out, "other-server", other)


if __name__ == "__main__":
    main()

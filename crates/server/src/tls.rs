//! TLS for the server ([`server_config`]: a certificate chain and private key
//! from PEM files) and the trust roots of the registry client
//! ([`read_certificates`] for a site CA file).
//!
//! The cryptography is rustls with the *ring* provider, chosen explicitly (no
//! process-wide default is consulted). A bad file is reported with its path,
//! the line of the offending PEM section and what is wrong with it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Largest certificate or key file read (a chain of a few certificates is a
/// few kilobytes).
const MAX_PEM: u64 = 1 << 20;

/// Why a certificate or key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("{}:{line}: {message}", path.display())]
    Pem {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: no PEM certificate (-----BEGIN CERTIFICATE-----) found", path.display())]
    NoCertificate { path: PathBuf },
    #[error(
        "{}: no PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY) found",
        path.display()
    )]
    NoKey { path: PathBuf },
    #[error("{}:{line}: a second private key; give one key per file", path.display())]
    SecondKey { path: PathBuf, line: usize },
    #[error("{}: {message}", path.display())]
    Unusable { path: PathBuf, message: String },
    #[error("the key {} does not belong to the certificate {}: {message}", key.display(), cert.display())]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
}

/// The cryptographic provider of every TLS connection.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The PEM sections of `path` with the line each starts on.
fn sections(path: &Path) -> Result<Vec<(usize, SectionKind, Vec<u8>)>, TlsError> {
    use std::io::Read;
    let read_err = |e: std::io::Error| TlsError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let f = std::fs::File::open(path).map_err(read_err)?;
    let mut text = Vec::new();
    f.take(MAX_PEM + 1)
        .read_to_end(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > MAX_PEM {
        return Err(TlsError::Read {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_PEM} bytes; not a certificate or key file"),
        });
    }
    let line_at = |offset: usize| {
        1 + text[..offset.min(text.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    };
    let mut out = Vec::new();
    let mut rest: &[u8] = &text;
    loop {
        let start = text.len() - rest.len();
        // the section starts after any text between sections
        let begins = rest
            .windows(11)
            .position(|w| w == b"-----BEGIN ")
            .map_or(start, |p| start + p);
        match pem::from_buf(&mut rest) {
            Ok(Some((kind, der))) => out.push((line_at(begins), kind, der)),
            Ok(None) => break,
            Err(e) => {
                return Err(TlsError::Pem {
                    path: path.to_path_buf(),
                    line: line_at(begins),
                    message: pem_message(&e),
                });
            }
        }
    }
    Ok(out)
}

fn pem_message(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "the PEM section has no end line {:?}",
            String::from_utf8_lossy(end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "malformed PEM begin line {:?}",
            String::from_utf8_lossy(line)
        ),
        pem::Error::Base64Decode(m) => format!("the PEM section is not valid base64: {m}"),
        other => format!("malformed PEM: {other}"),
    }
}

/// The certificates in the PEM file `path`, in file order (other sections
/// are skipped); an error when there is none.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = sections(path)?
        .into_iter()
        .filter(|(_, k, _)| *k == SectionKind::Certificate)
        .map(|(_, _, der)| CertificateDer::from(der))
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The one private key in the PEM file `path` (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let mut key = None;
    for (line, kind, der) in sections(path)? {
        let k = match kind {
            SectionKind::PrivateKey => PrivateKeyDer::Pkcs8(der.into()),
            SectionKind::RsaPrivateKey => PrivateKeyDer::Pkcs1(der.into()),
            SectionKind::EcPrivateKey => PrivateKeyDer::Sec1(der.into()),
            _ => continue,
        };
        if key.is_some() {
            return Err(TlsError::SecondKey {
                path: path.to_path_buf(),
                line,
            });
        }
        key = Some(k);
    }
    key.ok_or_else(|| TlsError::NoKey {
        path: path.to_path_buf(),
    })
}

/// The server side of TLS: the certificate chain of `cert` (the server's
/// certificate first, then intermediates) with the private key of `key`,
/// TLS 1.2 and 1.3, HTTP/1.1 by ALPN.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = read_certificates(cert)?;
    let private = read_private_key(key)?;
    let provider = provider();
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| TlsError::Unusable {
            path: key.to_path_buf(),
            message: format!("not a usable private key: {e}"),
        })?;
    let certified = rustls::sign::CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => {}
        // a key without a public-key form cannot be compared; rustls then
        // fails the handshake instead
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(e)) => {
            return Err(TlsError::Mismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                message: format!("{e:?}"),
            });
        }
        Err(e) => {
            return Err(TlsError::Unusable {
                path: cert.to_path_buf(),
                message: format!("the first certificate is not a valid X.509 certificate: {e}"),
            });
        }
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Unusable {
            path: cert.to_path_buf(),
            message: e.to_string(),
        })?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

//! TLS for the drivers: a rustls [`ClientConfig`] built from a kasio [`Config`],
//! and rustls' errors turned into [`TlsError`]s the application can tell apart.
//!
//! Shared by kasio-std (over a blocking `TcpStream`) and kasio-tokio (through
//! tokio-rustls), so both read the same properties the same way:
//!
//! | property | meaning |
//! | --- | --- |
//! | `security.protocol` | `SSL` or `SASL_SSL` turn TLS on |
//! | `ssl.ca.location`, `ssl.ca.pem` | trusted CAs (PEM file, directory of PEM files, PEM text); neither: the OS trust store |
//! | `ssl.certificate.location` / `.pem`, `ssl.key.location` / `.pem` | client certificate and key (mutual TLS) |
//! | `ssl.key.password` | the password of an encrypted PKCS#8 key |
//! | `enable.ssl.certificate.verification` | `false` accepts any broker certificate (tests only) |
//! | `ssl.endpoint.identification.algorithm` | `https` checks the broker's name (DNS or IP SAN), `none` only the chain |
//! | `ssl.keystore.location` | refused: convert PKCS#12 / JKS to PEM |
//!
//! The crypto is rustls' with a pure-Rust provider ([`rustls_rustcrypto`], the
//! RustCrypto algorithms): no OpenSSL and no C compiler. It is young (an alpha
//! release, not audited as a whole) and slower than `ring` in handshakes and bulk
//! encryption; the `ring` feature switches to rustls' `ring` provider, more
//! mature and faster, at the price of a C compiler at build time.
//!
//! Secrets (`ssl.key.pem`, `ssl.key.password`, key file contents) never appear in
//! error messages: errors name files and properties, not their contents.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use kasio_core::config::{Config, EndpointIdentification};
use kasio_core::conn::{TlsError, TlsErrorKind};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};

pub use rustls;

/// The crypto provider kasio uses: RustCrypto (pure Rust), or `ring` with the
/// `ring` feature.
pub fn provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "ring")]
    return Arc::new(rustls::crypto::ring::default_provider());
    #[cfg(not(feature = "ring"))]
    Arc::new(rustls_rustcrypto::provider())
}

fn config_error(message: impl Into<String>) -> TlsError {
    TlsError {
        kind: TlsErrorKind::Config,
        message: message.into(),
    }
}

/// The TLS client configuration for `config`, or `None` when its
/// `security.protocol` uses no TLS. Reads the files it names now.
pub fn client_config(config: &Config) -> Result<Option<Arc<ClientConfig>>, TlsError> {
    if !config.security_protocol.uses_tls() {
        return Ok(None);
    }
    if let Some(keystore) = &config.ssl_keystore_location {
        return Err(convert_to_pem("ssl.keystore.location", keystore));
    }
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = if config.enable_ssl_certificate_verification {
        let roots = Arc::new(roots(config)?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
            .build()
            .map_err(|e| config_error(format!("cannot verify with the trusted CAs: {e}")))?;
        match config.ssl_endpoint_identification_algorithm {
            EndpointIdentification::Https => webpki,
            EndpointIdentification::None => Arc::new(ChainOnly(webpki)),
        }
    } else {
        Arc::new(AnyCertificate(Arc::clone(&provider)))
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(format!("no usable TLS version: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let client = match client_identity(config)? {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| config_error(format!("unusable client certificate or key: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Some(Arc::new(client)))
}

/// The name to verify the broker's certificate against, and to send as SNI (a
/// host name; an IP address is checked against the certificate's IP SANs and is
/// not sent).
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|_| config_error(format!("{host:?} is not a valid TLS server name")))
}

fn convert_to_pem(property: &str, path: &str) -> TlsError {
    config_error(format!(
        "{property}={path} is a keystore (PKCS#12 or JKS), which kasio does not read: \
         convert it to PEM (e.g. `openssl pkcs12 -in {path} -out client.pem -nodes`, or \
         `keytool -importkeystore` to PKCS#12 first for JKS) and set \
         ssl.certificate.location and ssl.key.location"
    ))
}

fn is_keystore_name(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".p12", ".pfx", ".jks", ".keystore"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// Reads a PEM file named by `property`; a keystore gets the 'convert to PEM' error.
fn read_pem_file(property: &str, path: &str) -> Result<Vec<u8>, TlsError> {
    if is_keystore_name(path) {
        return Err(convert_to_pem(property, path));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| config_error(format!("{property}={path}: cannot read: {e}")))?;
    // JKS (magic FEEDFEED) or DER (PKCS#12 is a DER SEQUENCE): not PEM.
    if bytes.starts_with(&[0xFE, 0xED, 0xFE, 0xED]) || bytes.first() == Some(&0x30) {
        return Err(convert_to_pem(property, path));
    }
    Ok(bytes)
}

fn pem_certs(
    property: &str,
    what: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config_error(format!("{property}={what}: bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(format!(
            "{property}={what}: no certificate in it"
        )));
    }
    Ok(certs)
}

fn roots(config: &Config) -> Result<RootCertStore, TlsError> {
    let mut certs = Vec::new();
    if let Some(location) = &config.ssl_ca_location {
        let path = Path::new(location);
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| config_error(format!("ssl.ca.location={location}: {e}")))?;
            for entry in entries.flatten() {
                let file = entry.path();
                if !file.is_file() {
                    continue;
                }
                let Ok(bytes) = std::fs::read(&file) else {
                    continue;
                };
                // Files without certificates (an index, a CRL) are skipped.
                certs.extend(CertificateDer::pem_slice_iter(&bytes).flatten());
            }
            if certs.is_empty() {
                return Err(config_error(format!(
                    "ssl.ca.location={location}: no PEM certificate in the directory"
                )));
            }
        } else {
            let pem = read_pem_file("ssl.ca.location", location)?;
            certs.extend(pem_certs("ssl.ca.location", location, &pem)?);
        }
    }
    if let Some(pem) = &config.ssl_ca_pem {
        certs.extend(pem_certs("ssl.ca.pem", "…", pem.as_bytes())?);
    }
    let mut store = RootCertStore::empty();
    if config.ssl_ca_location.is_none() && config.ssl_ca_pem.is_none() {
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = store.add_parsable_certificates(native.certs);
        if added == 0 {
            let why = native
                .errors
                .first()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            return Err(config_error(format!(
                "no trusted CA: the system has none{why}; set ssl.ca.location or ssl.ca.pem"
            )));
        }
        return Ok(store);
    }
    for cert in certs {
        store
            .add(cert)
            .map_err(|e| config_error(format!("unusable CA certificate: {e}")))?;
    }
    Ok(store)
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_identity(config: &Config) -> Result<Option<Identity>, TlsError> {
    let chain = match (
        &config.ssl_certificate_location,
        &config.ssl_certificate_pem,
    ) {
        (Some(location), _) => {
            let pem = read_pem_file("ssl.certificate.location", location)?;
            Some(pem_certs("ssl.certificate.location", location, &pem)?)
        }
        (None, Some(pem)) => Some(pem_certs("ssl.certificate.pem", "…", pem.as_bytes())?),
        (None, None) => None,
    };
    let key = match (&config.ssl_key_location, &config.ssl_key_pem) {
        (Some(location), _) => {
            let pem = read_pem_file("ssl.key.location", location)?;
            Some(private_key("ssl.key.location", location, &pem, config)?)
        }
        (None, Some(pem)) => Some(private_key(
            "ssl.key.pem",
            "[hidden]",
            pem.as_bytes(),
            config,
        )?),
        (None, None) => None,
    };
    match (chain, key) {
        (Some(chain), Some(key)) => Ok(Some((chain, key))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(config_error(
            "a client certificate without its key: set ssl.key.location or ssl.key.pem",
        )),
        (None, Some(_)) => Err(config_error(
            "a client key without its certificate: set ssl.certificate.location or ssl.certificate.pem",
        )),
    }
}

/// The private key in `pem` (`what` names it in errors, never its content).
fn private_key(
    property: &str,
    what: &str,
    pem: &[u8],
    config: &Config,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    const ENCRYPTED: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";
    if pem.windows(ENCRYPTED.len()).any(|w| w == ENCRYPTED) {
        let Some(password) = &config.ssl_key_password else {
            return Err(config_error(format!(
                "{property}={what}: the key is encrypted; set ssl.key.password"
            )));
        };
        let text = std::str::from_utf8(pem)
            .map_err(|_| config_error(format!("{property}={what}: not PEM text")))?;
        let start = text
            .find("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            .unwrap_or(0);
        let (_, der) = pkcs8::der::pem::decode_vec(&text.as_bytes()[start..])
            .map_err(|e| config_error(format!("{property}={what}: bad PEM: {e}")))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
            .map_err(|e| config_error(format!("{property}={what}: bad encrypted key: {e}")))?;
        let plain = info.decrypt(password.as_bytes()).map_err(|_| {
            config_error(format!(
                "{property}={what}: cannot decrypt the key: wrong ssl.key.password or an \
                 unsupported encryption (PBES2 with PBKDF2 or scrypt and AES is supported)"
            ))
        })?;
        return Ok(PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec()).into());
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|_| {
        config_error(format!(
            "{property}={what}: no private key (PKCS#8, PKCS#1 or SEC1 PEM) in it"
        ))
    })
}

/// Endpoint identification `none`: the chain is verified as usual, a name
/// mismatch is accepted. webpki checks the name last, after the chain, validity
/// and revocation, so only that last check is waived.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `enable.ssl.certificate.verification=false`: any certificate is accepted (the
/// handshake signatures are still checked, so the peer holds the key).
struct AnyCertificate(Arc<CryptoProvider>);

impl fmt::Debug for AnyCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AnyCertificate")
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What a rustls error means to the application.
pub fn classify(error: &rustls::Error, host: &str) -> TlsError {
    use rustls::Error as E;
    let (kind, message) = match error {
        E::InvalidCertificate(e) => match e {
            CertificateError::UnknownIssuer => (
                TlsErrorKind::UnknownIssuer,
                format!(
                    "the certificate of {host} is signed by a CA that is not trusted \
                     (check ssl.ca.location / ssl.ca.pem)"
                ),
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                (
                    TlsErrorKind::NameMismatch,
                    format!(
                        "the certificate of {host} is not valid for that name ({e}); \
                     ssl.endpoint.identification.algorithm=none skips this check"
                    ),
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                TlsErrorKind::Expired,
                format!("the certificate of {host} has expired ({e})"),
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
                TlsErrorKind::NotYetValid,
                format!("the certificate of {host} is not valid yet ({e})"),
            ),
            other => (
                TlsErrorKind::BadCertificate,
                format!("the certificate of {host} was refused: {other}"),
            ),
        },
        E::AlertReceived(AlertDescription::CertificateRequired) => (
            TlsErrorKind::ClientCertificateRequired,
            format!(
                "{host} requires a client certificate (mutual TLS): set \
                 ssl.certificate.location and ssl.key.location"
            ),
        ),
        E::AlertReceived(
            alert @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied),
        ) => (
            TlsErrorKind::Rejected,
            format!("{host} rejected the client certificate (alert {alert:?})"),
        ),
        E::AlertReceived(alert) => (
            TlsErrorKind::Rejected,
            format!("{host} ended the handshake (alert {alert:?})"),
        ),
        other => (TlsErrorKind::Other, format!("with {host}: {other}")),
    };
    TlsError { kind, message }
}

/// What an I/O error from a TLS stream means: the rustls error inside it, if any.
pub fn classify_io(error: &io::Error, host: &str) -> TlsError {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(e) => classify(e, host),
        None => TlsError {
            kind: TlsErrorKind::Other,
            message: format!("with {host}: {error}"),
        },
    }
}

/// Whether an I/O error from a TLS stream came from TLS (not the socket).
pub fn is_tls_io_error(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
}

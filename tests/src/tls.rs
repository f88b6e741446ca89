//! Test TLS (feature `tls`): certificates made with rcgen, a TLS terminator in
//! front of a served broker ([`TlsProxy`]), and serve mode's TLS listeners built
//! on it ([`TlsServed`]: every broker behind one, optionally requiring a client
//! certificate, advertised under a name of the server certificate).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kasio_std::tls::rustls::pki_types::pem::PemObject;
use kasio_std::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use kasio_std::tls::rustls::server::WebPkiClientVerifier;
use kasio_std::tls::rustls::{RootCertStore, ServerConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A certificate and its key, as PEM.
#[derive(Clone)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A test CA that signs server and client certificates.
pub struct TestCa {
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("self-signed");
        TestCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate for `names` (DNS names or IP addresses); `expired`
    /// makes one that ended in 2020.
    pub fn leaf(&self, names: &[&str], expired: bool) -> Pem {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("params");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.to_string_lossy().into_owned()
}

/// A fresh temporary directory for one test's files.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kasio-tls-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A TLS terminator on 127.0.0.1 that forwards the plaintext to `backend`;
/// stops when dropped.
pub struct TlsProxy {
    pub port: u16,
    /// TCP connections accepted (TLS handshakes attempted).
    pub accepted: Arc<AtomicU64>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TlsProxy {
    /// Serves `server` (cert + key); with `client_ca`, clients must present a
    /// certificate signed by it (mutual TLS).
    pub fn start(backend: SocketAddr, server: &Pem, client_ca: Option<&str>) -> TlsProxy {
        let provider = kasio_std::tls::provider();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(server.cert.as_bytes())
                .collect::<Result<_, _>>()
                .expect("cert");
        let key = PrivateKeyDer::from_pem_slice(server.key.as_bytes()).expect("key");
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                    roots.add(c.expect("ca")).expect("add");
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .expect("verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = Arc::new(builder.with_single_cert(chain, key).expect("server config"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&accepted);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsProxy {
            port,
            accepted,
            runtime: Some(runtime),
        }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Serve mode's TLS listener option: the server certificate and, for mutual
/// TLS, the CA client certificates must be signed by (a client without one is
/// refused in the handshake).
#[derive(Clone)]
pub struct ServerTls {
    /// The brokers' certificate and key; its names must include the host the
    /// metadata advertises.
    pub cert: Pem,
    /// With a CA (PEM), clients must present a certificate it signed.
    pub client_ca: Option<String>,
}

/// A served cluster whose brokers listen with TLS only: one TLS listener per
/// broker in front of its plaintext one, and the metadata advertising
/// `host:<TLS port>` (so `host` must be a name in the certificate). SASL, if
/// the cluster has it, runs inside the TLS stream (`SASL_SSL`). Stops when
/// dropped.
pub struct TlsServed {
    /// `host:<TLS port>` of every broker, comma-separated.
    pub bootstrap: String,
    /// The cluster (for `with_cluster`, `take_violations`).
    pub served: crate::sim::serve::Served,
    /// One per broker, in broker id order.
    pub listeners: Vec<TlsProxy>,
}

impl TlsServed {
    /// Serves `cluster` on TLS listeners advertised as `host`.
    pub fn serve(
        cluster: crate::sim::Cluster,
        tls: &ServerTls,
        host: &str,
    ) -> std::io::Result<TlsServed> {
        let served = crate::sim::serve::Served::serve(cluster)?;
        let backends: Vec<(i32, SocketAddr)> = served.with_cluster(|c| {
            c.broker_ids()
                .into_iter()
                .filter_map(|id| {
                    let b = c.brokers.get(&id)?;
                    Some((id, format!("{}:{}", b.host, b.port).parse().ok()?))
                })
                .collect()
        });
        let listeners: Vec<TlsProxy> = backends
            .iter()
            .map(|(_, addr)| TlsProxy::start(*addr, &tls.cert, tls.client_ca.as_deref()))
            .collect();
        let bootstrap = served.with_cluster(|c| {
            for ((id, _), l) in backends.iter().zip(&listeners) {
                c.set_address(*id, host, l.port);
            }
            c.bootstrap()
        });
        Ok(TlsServed {
            bootstrap,
            served,
            listeners,
        })
    }
}

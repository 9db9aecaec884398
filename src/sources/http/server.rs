//! The one listener every `http` source shares (`[http] listen`): connection and header limits
//! against slow or greedy senders, optional TLS (rustls) re-read on SIGHUP, and the table of
//! paths the running sources answer on.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use anyhow::Context;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::accept::{self, Endpoint};
use crate::config::limits::{between, duration_between};
use crate::config::ConfigError;

/// `[http]`: the listener of the `http` sources.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerSettings {
    /// Address the webhook listener binds (`"0.0.0.0:8443"`); none: no listener, no `http` source.
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain: with `tls_key`, the listener speaks TLS; re-read on SIGHUP.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`; re-read on SIGHUP.
    pub tls_key: Option<PathBuf>,
    /// Connections open at once; past it new ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long a request's headers (and a TLS handshake) may take to arrive; slower: closed.
    #[serde(deserialize_with = "crate::config::duration")]
    pub header_timeout: Duration,
    /// The most bytes of request line and headers; more: 431.
    pub max_header_bytes: usize,
    /// The most headers in a request; more: 431.
    pub max_headers: usize,
}

impl Default for HttpServerSettings {
    fn default() -> Self {
        HttpServerSettings {
            listen: None,
            tls_cert: None,
            tls_key: None,
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_headers: 100,
        }
    }
}

impl HttpServerSettings {
    /// Refuses limits the listener cannot hold, naming `http.…` of the daemon file `file`.
    pub fn check(&self, file: &Path) -> Result<(), ConfigError> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            let (key, other) = if self.tls_cert.is_some() { ("http.tls_cert", "tls_key") } else { ("http.tls_key", "tls_cert") };
            return Err(ConfigError::new(file, key, format!("TLS takes both tls_cert and tls_key: {other} is missing")));
        }
        between(file, "http.max_connections", self.max_connections as u64, 1, 100_000)?;
        duration_between(file, "http.header_timeout", self.header_timeout, Duration::from_millis(100), Duration::from_secs(3600))?;
        between(file, "http.max_header_bytes", self.max_header_bytes as u64, 1024, 1024 * 1024)?;
        between(file, "http.max_headers", self.max_headers as u64, 1, 10_000)
    }

    /// Makes relative TLS paths relative to the daemon file's directory `base`.
    pub fn resolve(&mut self, base: &Path) {
        for p in [&mut self.tls_cert, &mut self.tls_key].into_iter().flatten() {
            *p = base.join(&*p);
        }
    }
}

/// The paths the running `http` sources answer on.
#[derive(Default)]
pub struct Routes {
    by_path: RwLock<HashMap<String, Arc<Endpoint>>>,
}

impl Routes {
    /// Answers `endpoint`'s path with it (a changed source's new run replaces the old).
    pub fn insert(&self, endpoint: Arc<Endpoint>) {
        self.by_path.write().expect("not poisoned").insert(endpoint.path().to_string(), endpoint);
    }

    /// Stops answering `endpoint`'s path, unless a newer run took it over.
    pub fn remove(&self, endpoint: &Arc<Endpoint>) {
        let mut by_path = self.by_path.write().expect("not poisoned");
        if by_path.get(endpoint.path()).is_some_and(|e| Arc::ptr_eq(e, endpoint)) {
            by_path.remove(endpoint.path());
        }
    }

    /// The endpoint of `path`.
    pub fn get(&self, path: &str) -> Option<Arc<Endpoint>> {
        self.by_path.read().expect("not poisoned").get(path).cloned()
    }
}

/// The process's paths: sources register as they start, and the listener reads them.
pub fn routes() -> &'static Routes {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    ROUTES.get_or_init(Routes::default)
}

/// Reads a PEM certificate chain and key into a TLS configuration.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", cert.display()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The running listener.
pub struct Server {
    settings: HttpServerSettings,
    tls: RwLock<Option<TlsAcceptor>>,
}

impl Server {
    /// Binds `[http] listen` and serves until `shutdown`; `None` when there is no `[http] listen`.
    pub async fn start(settings: &HttpServerSettings, shutdown: CancellationToken) -> anyhow::Result<Option<Arc<Server>>> {
        let Some(addr) = settings.listen else { return Ok(None) };
        let tls = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => Some(TlsAcceptor::from(load_tls(cert, key).map_err(anyhow::Error::msg).context("[http] TLS")?)),
            _ => None,
        };
        let listener = TcpListener::bind(addr).await.with_context(|| format!("[http] listen = \"{addr}\": cannot listen there"))?;
        info!(listen = %listener.local_addr()?, tls = tls.is_some(), "webhooks listening");
        let server = Arc::new(Server { settings: settings.clone(), tls: RwLock::new(tls) });
        tokio::spawn(server.clone().serve(listener, shutdown));
        Ok(Some(server))
    }

    /// Reads the TLS certificate and key again (SIGHUP); if they do not load, the old ones stay.
    pub fn reload_tls(&self) {
        let (Some(cert), Some(key)) = (&self.settings.tls_cert, &self.settings.tls_key) else { return };
        match load_tls(cert, key) {
            Ok(config) => {
                *self.tls.write().expect("not poisoned") = Some(TlsAcceptor::from(config));
                info!("[http] TLS certificate and key read again");
            }
            Err(e) => error!(error = %e, "[http] TLS certificate or key do not load; the ones in use stay"),
        }
    }

    /// The settings it was started with.
    pub fn settings(&self) -> &HttpServerSettings {
        &self.settings
    }

    async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: CancellationToken) {
        let open = Arc::new(Semaphore::new(self.settings.max_connections));
        loop {
            // A permit before the accept: past the limit, connections wait in the backlog
            // rather than each costing a task and a buffer.
            let permit = tokio::select! {
                _ = shutdown.cancelled() => return,
                p = open.clone().acquire_owned() => p.expect("never closed"),
            };
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors, most likely: wait rather than spin.
                        warn!(error = %e, "webhook listener: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let tls = self.tls.read().expect("not poisoned").clone();
            let (this, shutdown) = (self.clone(), shutdown.clone());
            tokio::spawn(async move {
                let _permit = permit;
                match tls {
                    None => this.connection(stream, peer, shutdown).await,
                    Some(acceptor) => {
                        if let Ok(Ok(stream)) = tokio::time::timeout(this.settings.header_timeout, acceptor.accept(stream)).await {
                            this.connection(stream, peer, shutdown).await;
                        }
                    }
                }
            });
        }
    }

    async fn connection<I: AsyncRead + AsyncWrite + Unpin + Send + 'static>(&self, io: I, peer: SocketAddr, shutdown: CancellationToken) {
        let service = hyper::service::service_fn(move |req: Request<Incoming>| async move {
            Ok::<_, std::convert::Infallible>(accept::handle(routes(), req, peer.ip()).await)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.settings.header_timeout)
            .max_headers(self.settings.max_headers)
            .max_header_size(self.settings.max_header_bytes);
        let connection = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => {}
            _ = shutdown.cancelled() => {
                // Finish the request under way (answered 503 if it has not stored yet), then close.
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(10), connection).await;
            }
        }
    }
}

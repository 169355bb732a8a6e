//! Connecting: TLS (mTLS with a client certificate), a bearer token and the caller's trace
//! context, the same options as the other languages' helpers.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tonic::metadata::{Ascii, MetadataKey, MetadataMap, MetadataValue};
use tonic::service::{interceptor::InterceptedService, Interceptor};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::pb::agent_service_client::AgentServiceClient;
use crate::tracing::Tracer;

/// The generated stub as the helper uses it: every call goes through [`CallHeaders`].
pub type Service = AgentServiceClient<InterceptedService<Channel, CallHeaders>>;

/// TLS settings: a CA to trust (none: the system's roots) and, for mTLS, a client certificate
/// with its key, all PEM.
///
/// ```no_run
/// # fn demo() -> std::io::Result<()> {
/// let tls = agentstream::Tls::default()
///     .ca_file("ca.pem")?
///     .identity_files("client.pem", "client.key")?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Tls {
    ca: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    domain: Option<String>,
}

impl Tls {
    /// Trusts the CA certificate(s) in this PEM file instead of the system's roots; read now.
    pub fn ca_file(self, path: impl AsRef<Path>) -> std::io::Result<Self> {
        Ok(self.ca_pem(read(path.as_ref(), "TLS CA")?))
    }

    /// Trusts these PEM CA certificate(s) instead of the system's roots.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(pem.into());
        self
    }

    /// Presents this client certificate and key (PEM files, read now) for mTLS.
    pub fn identity_files(
        self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> std::io::Result<Self> {
        let cert = read(cert.as_ref(), "TLS client certificate")?;
        let key = read(key.as_ref(), "TLS client key")?;
        Ok(self.identity_pem(cert, key))
    }

    /// Presents this client certificate and key (PEM) for mTLS.
    pub fn identity_pem(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.identity = Some((cert.into(), key.into()));
        self
    }

    /// The name the server's certificate must have, when not the target's host.
    pub fn domain_name(mut self, name: impl Into<String>) -> Self {
        self.domain = Some(name.into());
        self
    }

    fn config(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        config = match &self.ca {
            Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
            None => config.with_native_roots(),
        };
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        config
    }
}

fn read(path: &Path, what: &str) -> std::io::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display())))
}

/// Why a connection could not be set up.
#[derive(Debug)]
pub enum ConnectError {
    /// The token cannot be sent as a header value (a control character, say).
    InvalidToken,
    /// The target, the TLS settings or the connection itself failed.
    Transport(tonic::transport::Error),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Never the token itself: it is a secret.
            ConnectError::InvalidToken => write!(f, "the token is not a valid header value"),
            ConnectError::Transport(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::InvalidToken => None,
            ConnectError::Transport(e) => Some(e),
        }
    }
}

impl From<tonic::transport::Error> for ConnectError {
    fn from(e: tonic::transport::Error) -> Self {
        ConnectError::Transport(e)
    }
}

/// Sets how to connect; [`crate::AgentClient::builder`] makes one.
pub struct ClientBuilder {
    target: String,
    tls: Option<Tls>,
    token: Option<String>,
    tracer: Option<Arc<dyn Tracer>>,
}

impl ClientBuilder {
    pub(crate) fn new(target: &str) -> Self {
        Self {
            target: target.into(),
            tls: None,
            token: None,
            tracer: None,
        }
    }

    /// Connects over TLS with these settings (plaintext otherwise).
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sends `authorization: Bearer <token>` with every call. A token the server refuses fails
    /// calls with `Code::Unauthenticated` ([`crate::RunError::code`] for runs).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sends the caller's trace context with every call and runs client tools through it
    /// (see [`Tracer`]).
    pub fn tracer(mut self, tracer: impl Tracer + 'static) -> Self {
        self.tracer = Some(Arc::new(tracer));
        self
    }

    /// Connects; the channel reconnects by itself later when the connection drops.
    pub async fn connect(self) -> Result<crate::AgentClient, ConnectError> {
        let headers = CallHeaders::new(self.token.as_deref(), self.tracer.clone())?;
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let uri = if self.target.contains("://") {
            self.target.clone()
        } else {
            format!("{scheme}://{}", self.target)
        };
        let mut endpoint = Endpoint::from_shared(uri)?;
        if let Some(tls) = &self.tls {
            endpoint = endpoint.tls_config(tls.config())?;
        }
        let channel = endpoint.connect().await?;
        Ok(crate::AgentClient::with_headers(
            channel,
            headers,
            self.tracer,
        ))
    }
}

/// What every call carries: the bearer token and the caller's trace context.
#[derive(Clone, Default)]
pub struct CallHeaders {
    authorization: Option<MetadataValue<Ascii>>,
    tracer: Option<Arc<dyn Tracer>>,
}

impl CallHeaders {
    fn new(token: Option<&str>, tracer: Option<Arc<dyn Tracer>>) -> Result<Self, ConnectError> {
        let authorization = match token {
            Some(token) => {
                let mut value: MetadataValue<Ascii> = format!("Bearer {token}")
                    .parse()
                    .map_err(|_| ConnectError::InvalidToken)?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self {
            authorization,
            tracer,
        })
    }
}

impl Interceptor for CallHeaders {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let metadata = request.metadata_mut();
        if let Some(authorization) = &self.authorization {
            metadata.insert("authorization", authorization.clone());
        }
        // Runs in the task that starts the call, so the tracer sees the caller's current span.
        if let Some(tracer) = &self.tracer {
            insert_headers(metadata, tracer.outgoing());
        }
        Ok(request)
    }
}

/// Adds these headers to a call's metadata (those that are not valid metadata are left out).
pub(crate) fn insert_headers(metadata: &mut MetadataMap, headers: Vec<(String, String)>) {
    for (key, value) in headers {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::<Ascii>::from_bytes(key.as_bytes()),
            value.parse::<MetadataValue<Ascii>>(),
        ) {
            metadata.insert(key, value);
        }
    }
}

//! Reaching a PostgreSQL server: the URL (with libpq's `sslmode` and `sslrootcert`), TLS with
//! rustls, the connection pool, and one clear message for each way a setup can be wrong.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::{Host, SslMode};

use crate::config::redact_url;
use crate::error::{Error, Result};

/// Connections per process: enough for both cores' worth of concurrent searches plus writes.
const POOL_SIZE: usize = 16;
/// How long a new connection may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a free connection.
const WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the connection is secured, as libpq's `sslmode` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tls {
    /// `disable`: plain TCP.
    Disable,
    /// `prefer` (the default): TLS when the server offers it, not verified (as libpq).
    Prefer,
    /// `require`: TLS or nothing, the server's certificate not verified (as libpq).
    Require,
    /// `verify-ca` / `verify-full`: TLS with the certificate checked against the OS's roots
    /// (or `sslrootcert`) and, for `verify-full`, the host name.
    Verify {
        /// Whether the host name must match the certificate.
        host: bool,
    },
}

/// A parsed database URL.
pub(super) struct Target {
    /// What tokio-postgres connects with.
    pub(super) config: tokio_postgres::Config,
    /// How the connection is secured.
    pub(super) tls: Tls,
    /// Extra trusted roots (`sslrootcert=FILE`).
    pub(super) root_cert: Option<String>,
    /// The URL without its password, for messages.
    pub(super) shown: String,
}

/// Parses a `postgres://` URL; `sslmode` and `sslrootcert` are read here because
/// tokio-postgres knows neither `verify-*` nor root files.
pub(super) fn parse_url(url: &str) -> Result<Target> {
    crate::config::check_url(url)?;
    let shown = redact_url(url);
    let mut parsed = url::Url::parse(url)
        .map_err(|e| Error::invalid("database_url", format!("'{shown}' is not a URL: {e}")))?;
    let mut tls = Tls::Prefer;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "sslmode" => {
                tls = match value.as_ref() {
                    "disable" => Tls::Disable,
                    "prefer" => Tls::Prefer,
                    "require" => Tls::Require,
                    "verify-ca" => Tls::Verify { host: false },
                    "verify-full" => Tls::Verify { host: true },
                    other => {
                        return Err(Error::invalid(
                            "database_url",
                            format!(
                                "sslmode '{other}' is not one of disable, prefer, require, verify-ca, verify-full"
                            ),
                        ));
                    }
                }
            }
            "sslrootcert" => root_cert = Some(value.into_owned()),
            _ => kept.push((key.into_owned(), value.into_owned())),
        }
    }
    parsed.set_query(None);
    if !kept.is_empty() {
        parsed.query_pairs_mut().extend_pairs(kept);
    }
    let mut config = tokio_postgres::Config::from_str(parsed.as_str()).map_err(|e| {
        Error::invalid(
            "database_url",
            format!("'{shown}' is not a usable PostgreSQL URL: {e}"),
        )
    })?;
    config.ssl_mode(match tls {
        Tls::Disable => SslMode::Disable,
        Tls::Prefer => SslMode::Prefer,
        Tls::Require | Tls::Verify { .. } => SslMode::Require,
    });
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("memoryd");
    }
    // Searches through the HNSW index keep scanning until enough rows pass the filter, and
    // look wider than pgvector's default for near-exact results. Statements are planned for
    // their actual parameters: a generic plan does not know the LIMIT of a nearest-neighbour
    // query and scans every vector instead of the index (36 ms against 5.5 ms at 10k).
    let options = config.get_options().unwrap_or_default().to_string();
    config.options(format!(
        "{options} -c hnsw.ef_search=200 -c hnsw.iterative_scan=strict_order \
         -c plan_cache_mode=force_custom_plan"
    ));
    Ok(Target {
        config,
        tls,
        root_cert,
        shown,
    })
}

/// Builds the pool (no connection is opened yet).
pub(super) fn pool(target: &Target) -> Result<Pool> {
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match target.tls {
        Tls::Disable => {
            Manager::from_config(target.config.clone(), tokio_postgres::NoTls, manager_config)
        }
        _ => Manager::from_config(
            target.config.clone(),
            tokio_postgres_rustls::MakeRustlsConnect::new(rustls_config(target)?),
            manager_config,
        ),
    };
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(WAIT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT + Duration::from_secs(1)))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| Error::Database(format!("cannot build the connection pool: {e}")))
}

fn rustls_config(target: &Target) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Setup(format!("TLS setup failed: {e}")))?;
    let config = match target.tls {
        Tls::Verify { host } => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            if let Some(path) = &target.root_cert {
                let pem = std::fs::read(path).map_err(|source| Error::Io {
                    context: format!("cannot read sslrootcert {path}"),
                    source,
                })?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert
                        .map_err(|e| Error::Setup(format!("sslrootcert {path} is not PEM: {e}")))?;
                    roots.add(cert).map_err(|e| {
                        Error::Setup(format!("sslrootcert {path} holds a bad certificate: {e}"))
                    })?;
                }
            }
            if roots.is_empty() {
                return Err(Error::Setup(format!(
                    "sslmode=verify-{} needs trusted root certificates and none were found\ninstall the OS's CA certificates, or add sslrootcert=FILE to the URL",
                    if host { "full" } else { "ca" }
                )));
            }
            let roots = Arc::new(roots);
            if host {
                builder.with_root_certificates(roots).with_no_client_auth()
            } else {
                let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    roots,
                    provider.clone(),
                )
                .build()
                .map_err(|e| Error::Setup(format!("TLS setup failed: {e}")))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                    .with_no_client_auth()
            }
        }
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// `sslmode=require`/`prefer`: encrypted, the server not authenticated (libpq's meaning;
/// `verify-full` is the mode that authenticates).
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Where the URL points, for messages: `host:port`.
pub(super) fn endpoint(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// Turns a failure to open the first connection into the message that names the fix.
pub(super) fn connect_error(target: &Target, err: tokio_postgres::Error) -> Error {
    let user = target.config.get_user().unwrap_or("(the OS user)");
    let dbname = target.config.get_dbname().unwrap_or(user);
    let at = endpoint(&target.config);
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        return match code {
            "28P01" | "28000" => Error::Setup(format!(
                "PostgreSQL at {at} refused user '{user}': {}\ncheck the user and password in the database URL ({})",
                db.message(),
                target.shown
            )),
            "3D000" => Error::Setup(format!(
                "PostgreSQL at {at} has no database '{dbname}'\ncreate it (createdb -h HOST -U USER {dbname}) or name another one in the URL"
            )),
            "57P03" | "53300" => Error::Unavailable(format!(
                "PostgreSQL at {at} cannot take the connection now: {}",
                db.message()
            )),
            _ => Error::Database(format!("PostgreSQL at {at}: {}", db.message())),
        };
    }
    let text = err.to_string();
    let detail = std::error::Error::source(&err)
        .map(|s| s.to_string())
        .unwrap_or_else(|| text.clone());
    if text.contains("TLS") || detail.contains("certificate") || detail.contains("tls") {
        return Error::Setup(format!(
            "TLS to PostgreSQL at {at} failed: {detail}\ncheck sslmode in the URL; for verify-ca/verify-full the server's certificate must chain to a trusted root (add sslrootcert=FILE)"
        ));
    }
    if text.contains("server does not support TLS") || detail.contains("does not support TLS") {
        return Error::Setup(format!(
            "PostgreSQL at {at} does not offer TLS, and the URL requires it\nenable ssl on the server, or use sslmode=prefer/disable on a trusted network"
        ));
    }
    Error::Unavailable(format!(
        "cannot connect to PostgreSQL at {at}: {detail}\ncheck that the server is running and that the host and port in the URL ({}) are right",
        target.shown
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_root_cert_are_read_here_and_the_rest_goes_to_tokio_postgres() {
        let t = parse_url(
            "postgres://memoryd:pw@db.internal:5433/mem?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(t.tls, Tls::Verify { host: true });
        assert_eq!(t.root_cert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(t.config.get_application_name(), Some("x"));
        assert_eq!(t.config.get_dbname(), Some("mem"));
        assert_eq!(endpoint(&t.config), "db.internal:5433");
        assert!(!t.shown.contains("pw"));
        assert_eq!(
            parse_url("postgres://u@h/d").unwrap().tls,
            Tls::Prefer,
            "libpq's default"
        );
        assert_eq!(
            parse_url("postgres://u@h/d?sslmode=require").unwrap().tls,
            Tls::Require
        );
        let err = parse_url("postgres://u@h/d?sslmode=bogus")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("sslmode 'bogus'"), "{err}");
    }
}

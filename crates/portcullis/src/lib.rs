//! Portcullis, a secure-by-default gateway for the Model Context Protocol, as a library.
//!
//! The `portcullis` binary is a thin layer over this crate. Embedding starts from a validated
//! [`Config`], the state behind the ports ([`local_state`]: API keys in SQLite and the audit
//! log in the data directory, the system clock), a started [`Gateway`], and the
//! [`http::router`] to mount in an axum app:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use portcullis::{Config, DataDir, Gateway};
//!
//! let config = Config::from_toml(&std::fs::read_to_string("portcullis.toml")?)?;
//! let data = DataDir::open(".portcullis".into())?;
//! let (auth, ports) = portcullis::local_state(&config, &data)?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let gateway = Gateway::start(config, ".".into(), auth, ports, shutdown.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let app = portcullis::http::router(gateway, shutdown, listener.local_addr()?);
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! To publish the operations of your own axum app as tools on the same server, see
//! [`embed::Mount`].

pub mod admin;
pub mod embed;
pub mod forward;
pub mod login;
pub mod operate;
pub mod telemetry;

use std::sync::Arc;

pub use portcullis_core::{self as core, Config, ConfigError};
pub use portcullis_gateway::{
    self as gateway, Gateway, GatewayServer, Ports, example_server, http, stdio,
};
pub use portcullis_store::{self as store, DataDir};

use portcullis_core::ports::{ApiKeyStore, ApprovalStore, Clock, PinStore};
use portcullis_gateway::auth::Authenticator;
use portcullis_gateway::context::SystemClock;
use portcullis_store::audit::AuditFileError;
use portcullis_store::{ApprovalFile, AuditFile, KeyStore, PinFile, StoreError};

/// Why the state in a data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot open the key and pin store: {0}")]
    Keys(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditFileError),
}

/// The embedded defaults behind the ports, in `dir`: API keys in its SQLite database (when the
/// config turns them on), the tool pins and the calls parked for approval in the same
/// database, the hash-chained audit log, and the system clock.
pub fn local_state(config: &Config, dir: &DataDir) -> Result<(Authenticator, Ports), StateError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let keys = if config.auth.api_keys {
        let store: Arc<dyn ApiKeyStore> = Arc::new(KeyStore::open(&dir.database())?);
        Some(store)
    } else {
        None
    };
    let auth = Authenticator::new(keys, clock.clone(), config.auth.allow_anonymous);
    let audit = Arc::new(AuditFile::open_rotating(
        dir.audit_log(),
        config.audit.rotation,
    )?);
    let pins: Arc<dyn PinStore> = Arc::new(PinFile::open(&dir.database())?);
    let approvals: Arc<dyn ApprovalStore> = Arc::new(ApprovalFile::open(&dir.database())?);
    Ok((
        auth,
        Ports {
            pins: Some(pins),
            approvals: Some(approvals),
            ..Ports::new(audit, clock)
        },
    ))
}

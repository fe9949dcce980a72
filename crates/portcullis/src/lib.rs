//! Portcullis, a secure-by-default gateway for the Model Context Protocol, as a library.
//!
//! The `portcullis` binary is a thin layer over this crate. Embedding starts from a validated
//! [`Config`], an authenticator and an audit log, a started [`Gateway`], and the
//! [`http::router`] to mount in an axum app:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use portcullis::gateway::{audit::AuditLog, auth::Authenticator};
//! use portcullis::{Config, DataDir, Gateway, store::KeyStore};
//!
//! let config = Config::from_toml(&std::fs::read_to_string("portcullis.toml")?)?;
//! let data = DataDir::open(".portcullis".into())?;
//! let keys = Arc::new(KeyStore::open(&data.database())?);
//! let auth = Authenticator::new(Some(keys), config.auth.allow_anonymous);
//! let audit = AuditLog::open(data.audit_log())?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let gateway = Gateway::start(config, ".".into(), auth, audit, shutdown.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let app = portcullis::http::router(gateway, shutdown, listener.local_addr()?);
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! To publish the operations of your own axum app as tools on the same server, see
//! [`embed::Mount`].

pub mod embed;

pub use portcullis_core::{self as core, Config, ConfigError};
pub use portcullis_gateway::{
    self as gateway, Gateway, GatewayServer, example_server, http, stdio,
};
pub use portcullis_store::{self as store, DataDir};

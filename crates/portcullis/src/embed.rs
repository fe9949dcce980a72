//! Portcullis inside your axum app: the operations of your own API, as documented by its OpenAPI
//! document (utoipa's, say), become MCP tools at `/mcp` on the same server.
//!
//! A tool call is dispatched to your router in-process (`tower::ServiceExt::oneshot`), so your
//! middleware, extractors and authentication run exactly as for an HTTP request, with no
//! network hop. Everything else is the gateway as usual: the config names what is exposed
//! (deny by default; write methods only with `destructive = true`), callers authenticate,
//! scopes, limits, the guardrail and redaction apply, and every call is audited.
//!
//! The config has one upstream for your API, `kind = "openapi"` with `embedded = true`:
//!
//! ```toml
//! [upstreams.app]
//! kind = "openapi"
//! embedded = true
//! # The gateway's own credential for your API, if your middleware wants one:
//! headers.X-App-Key = { env = "APP_KEY" }
//!
//! [[expose]]
//! upstream = "app"
//! tools = ["list_items", "GET /items/{id}"]
//! read_only = true
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use portcullis_core::{Config, UpstreamTransport};
use portcullis_gateway::auth::Authenticator;
use portcullis_gateway::openapi::EmbeddedApp;
use portcullis_gateway::preflight::preflight;
use portcullis_gateway::{Gateway, Ports};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Mounts the gateway on an app. Build it with the config, how callers authenticate and the
/// ports (where audit records go, the clock); then [`Mount::build`] with the app.
pub struct Mount {
    config: Config,
    auth: Authenticator,
    ports: Ports,
    base_dir: PathBuf,
}

impl Mount {
    /// `auth` and `ports` as [`crate::local_state`] opens them, or your own.
    pub fn new(config: Config, auth: Authenticator, ports: Ports) -> Mount {
        Mount {
            config,
            auth,
            ports,
            base_dir: PathBuf::from("."),
        }
    }

    /// The directory relative paths in the config (header files) are taken from. Default `.`.
    pub fn base_dir(mut self, dir: PathBuf) -> Mount {
        self.base_dir = dir;
        self
    }

    /// Returns `app` with `/mcp` added, and the gateway behind it (call
    /// [`Gateway::shutdown`] when the server stops). `openapi` is the app's OpenAPI document;
    /// `local_addr` the address the server listens on. Refuses a config without exactly one
    /// embedded upstream, and one that exposes a state-changing operation read-only.
    pub async fn build(
        self,
        app: Router,
        openapi: Value,
        local_addr: SocketAddr,
        shutdown: CancellationToken,
    ) -> Result<(Router, Arc<Gateway>), String> {
        let embedded: Vec<&str> = self
            .config
            .upstreams
            .iter()
            .filter(|u| matches!(&u.transport, UpstreamTransport::OpenApi(o) if o.embedded))
            .map(|u| u.name.as_str())
            .collect();
        let [name] = embedded[..] else {
            return Err(format!(
                "the config needs exactly one upstream with kind = \"openapi\" and embedded = true; it has {}",
                embedded.len()
            ));
        };
        let apps = HashMap::from([(
            name.to_string(),
            EmbeddedApp {
                router: app.clone(),
                document: openapi,
            },
        )]);
        let found = preflight(&self.config, &self.base_dir, &apps).await;
        for warning in &found.warnings {
            tracing::warn!("{warning}");
        }
        if !found.problems.is_empty() {
            return Err(found.problems.join("\n"));
        }
        let gateway = Gateway::start_with_apps(
            self.config,
            self.base_dir,
            self.auth,
            self.ports,
            shutdown.clone(),
            apps,
        );
        gateway.wait_ready(Duration::from_secs(5)).await;
        let mcp = portcullis_gateway::http::router(gateway.clone(), shutdown, local_addr);
        Ok((app.merge(mcp), gateway))
    }
}

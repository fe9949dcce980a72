//! Serving one client over the gateway's own stdin and stdout.

use std::sync::Arc;

use rmcp::ServiceExt;
use rmcp::service::RoleServer;

use crate::server::Gateway;
use crate::unmodeled::{lift_message, line_transport};

/// Serves one client on stdin/stdout until it closes its end. `token` is the client's API key
/// (from `PORTCULLIS_API_KEY`), checked on every request; without one the client is anonymous.
pub async fn serve_stdio(gateway: Arc<Gateway>, token: Option<String>) -> Result<(), String> {
    let transport = line_transport::<RoleServer>(
        tokio::io::stdin(),
        tokio::io::stdout(),
        |message| {
            lift_message(message);
        },
        "client",
    );
    let running = gateway
        .stdio_handler(token)
        .serve(transport)
        .await
        .map_err(|e| format!("the client did not complete initialization: {e}"))?;
    running
        .waiting()
        .await
        .map_err(|e| format!("the session ended abnormally: {e}"))?;
    Ok(())
}

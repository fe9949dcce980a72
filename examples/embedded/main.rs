//! Portcullis embedded in an axum app: the app's own operations as MCP tools at `/mcp`, with
//! the app's own code at the gateway's seams (hooks.rs): a pre-call policy, a post-call
//! inspection, the app's approval channel and the app's key computed for its own API.
//!
//!     cargo run -p portcullis --example embedded
//!
//! It prints a throwaway key (holding `items:write`) and serves the app and `/mcp` on
//! 127.0.0.1:3000 (or `--listen ADDR`).

use std::collections::BTreeSet;
use std::net::SocketAddr;

use portcullis::embed::Mount;
use portcullis::{Config, DataDir};
use tokio_util::sync::CancellationToken;

#[path = "app.rs"]
mod app;
#[path = "hooks.rs"]
mod hooks;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen: SocketAddr = std::env::args()
        .skip_while(|a| a != "--listen")
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into())
        .parse()?;
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/embedded");
    let config = Config::from_toml(&std::fs::read_to_string(here.join("portcullis.toml"))?)?;
    let data = DataDir::open(std::env::temp_dir().join("portcullis-embedded-example"))?;
    let (auth, ports) = portcullis::local_state(&config, &data)?;
    let ports = hooks::with_hooks(ports, std::sync::Arc::default());
    let (auth, key) = auth.with_dev_key(BTreeSet::from(["items:write".to_string()]))?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let local = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let (router, gateway) = Mount::new(config, auth, ports)
        .build(app::router(), app::openapi(), local, shutdown.clone())
        .await?;
    println!("key: {key}");
    println!("listening on {local}");
    println!("MCP endpoint: http://{local}/mcp (the app itself at http://{local}/items)");
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await?;
    gateway.shutdown().await;
    Ok(())
}

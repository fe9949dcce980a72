//! The Portcullis gateway: everything that touches sockets and processes.
//!
//! - [`server`]: the MCP server every client session talks to, and the [`Gateway`] behind it,
//!   whose `call_tool` is the pipeline every call goes through.
//! - [`auth`] and [`audit`]: who is calling, and the record of every call; [`jwt`]: OAuth
//!   bearer tokens checked against the issuers' keys.
//! - [`guard`]: the prompt-injection guardrail applied to arguments and results.
//! - [`upstream`]: supervised connections to upstream MCP servers (stdio children, HTTP),
//!   spoken through the gateway's own raw-JSON client in [`rpc`]; [`openapi`]: HTTP APIs
//!   (or the embedding app's own router) bridged to tools.
//! - [`catalogue`]: the live published catalogue, rebuilt when an upstream's listing changes.
//! - [`edge`], [`http`] and [`stdio`]: the HTTP edge checks and the two downstream transports.
//! - [`unmodeled`]: keeps tool fields rmcp does not model alive through the gateway.
//! - [`example_server`]: the bundled example upstream (`portcullis example-server`).

pub mod audit;
pub mod auth;
pub mod catalogue;
pub mod client_credentials;
pub mod edge;
pub mod example_server;
pub mod guard;
pub mod http;
pub mod jwt;
pub mod openapi;
pub mod rpc;
pub mod server;
pub mod stdio;
pub mod unmodeled;
pub mod upstream;

pub use server::{Caller, Gateway, GatewayServer};

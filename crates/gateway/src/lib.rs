//! The Portcullis gateway: everything that touches sockets and processes, over the core
//! pipeline and its ports. It sees state only through the ports; the binary and the embeddable
//! crate wire in the store.
//!
//! - [`edge`] → [`http`] (the rmcp path, and beside it [`direct`], the direct stateless path)
//!   and [`stdio`]: the two
//!   downstream transports, siblings over the same [`Gateway`]; [`server`] is the rmcp handler
//!   both serve, [`wire`] the one mapping from a refusal to what the client receives, and
//!   [`context`] where each request's record begins.
//! - [`relay`]: resources, prompts and completions, and the upstream's requests and log
//!   messages on their way to the client of the call they belong to.
//! - [`auth`]: who is calling; [`jwt`]: OAuth bearer tokens checked against the issuers' keys.
//! - [`guard`]: the guardrail as the pipeline's `ContentGuard` port; [`approvals`]: calls
//!   parked for an operator (the `ApprovalQueue` port over the `ApprovalStore`);
//!   [`webhook`]: the events both POST; [`elicit`]: asking the user through their client.
//! - [`upstream`]: supervised connections to upstream MCP servers (stdio children, HTTP),
//!   spoken through the gateway's own raw-JSON client in [`rpc`]; [`openapi`]: HTTP APIs (or
//!   the embedding app's own router) bridged to tools. Both implement the `Upstream` port.
//! - [`secrets`]: header values and tokens the config names (a leaf);
//!   [`client_credentials`]: the gateway's own OAuth tokens for upstreams.
//! - [`preflight`]: what `check` and every start verify (secrets, commands, documents).
//! - [`catalogue`]: the live published catalogue, rebuilt when an upstream's listing changes;
//!   [`offers`]: resource subscriptions and the resource links in upstream results.
//! - [`unmodeled`]: keeps tool fields rmcp does not model alive through the gateway.
//! - [`example_server`]: the bundled example upstream (`portcullis example-server`).

pub mod approvals;
pub mod auth;
pub mod bounded;
pub mod catalogue;
pub mod client_credentials;
pub mod context;
pub mod direct;
pub mod edge;
pub mod elicit;
pub mod example_server;
pub mod guard;
pub mod http;
pub mod jwt;
pub mod meta;
pub mod offers;
pub mod openapi;
pub mod preflight;
pub mod relay;
pub mod rpc;
pub mod secrets;
pub mod server;
pub mod stdio;
pub mod trace;
pub mod unmodeled;
pub mod upstream;
pub mod webhook;
pub mod wire;

pub use server::{Gateway, GatewayServer, Generation, Ports, Reloaded};

//! The decisions of Portcullis, free of I/O.
//!
//! # Where to start reading
//!
//! Every `tools/call` goes through one function, [`pipeline::Pipeline::call_tool`]:
//!
//! ```text
//!  edge ─► resolve ─► authorize ─► rules ─► rate limit ─► guard args ─► hooks ─► approval ─► forward ─► hooks ─► guard result ─► redact
//!         catalogue   policy       rules    limits        ContentGuard  CallHook ApprovalQueue Upstream CallHook ContentGuard   redact
//!        │                                    RateStore                                                           │
//!        └──────────── one audit record (exchange), written to the AuditSink when the request is done ◄───────────┘
//! ```
//!
//! | phase | decided in | consults (port) |
//! |---|---|---|
//! | where the request came in, and its record | [`exchange`] | [`ports::AuditSink`], [`ports::Clock`] |
//! | who is calling (API keys) | [`keys`] | [`ports::ApiKeyStore`], [`ports::Clock`] |
//! | which tools exist, under what name | [`exposure`], [`catalogue`] | — |
//! | who may call what | [`policy`] | — |
//! | conditions over calls (`[[rules]]`, CEL) | [`rules`] | [`ports::Clock`] |
//! | an embedder's own decisions | — | [`ports::CallHook`] |
//! | rate limits and budgets | [`limits`] | [`ports::RateStore`], [`ports::Clock`] |
//! | prompt injection in arguments and results | [`guardrail`] | [`ports::ContentGuard`] |
//! | human approval | [`approval`] | [`ports::ApprovalQueue`] (over [`ports::ApprovalStore`]), [`ports::UserPrompt`] |
//! | calling the tool | — | [`ports::Upstream`], [`ports::ProgressSink`] |
//! | what is masked on the way back | [`redact`] | — |
//! | what the client is told on refusal | [`refusal`] | — |
//!
//! Reading a resource, getting a prompt and completing an argument go through
//! [`pipeline::Pipeline::relay`]: the same phases less rules, hooks and approval, over what
//! [`offers`] publishes.
//!
//! [`config`] turns the operator's TOML into the validated settings all of these take. Beside
//! the calls: [`lint`] and [`poisoning`] audit what would be published, [`pins`] what was.
//!
//! Nothing here opens a socket, reads a file or reads the clock; the gateway and the store
//! implement the [`ports`] and ask this crate what to do.

pub mod approval;
pub mod audit;
pub mod catalogue;
pub mod config;
pub mod duration;
pub mod exchange;
pub mod exposure;
pub mod guardrail;
pub mod keys;
pub mod limits;
pub mod lint;
pub mod offers;
pub mod pins;
pub mod pipeline;
pub mod poisoning;
pub mod policy;
pub mod ports;
pub mod redact;
pub mod refusal;
pub mod rules;

pub use catalogue::{Catalogue, CatalogueNote, PublishedTool, UpstreamListing};
pub use config::{
    AuthSettings, Config, ConfigError, ConfigProblem, LimitSettings, SecretSource, UpstreamSpec,
    UpstreamTransport,
};
pub use exchange::{Exchange, Origin};
pub use exposure::{Exposure, ExposureDecision};
pub use pipeline::{Caller, Pipeline};
pub use policy::{AccessRules, Authorized, Denial, Principal, PrincipalKind, authorize, may_see};
pub use refusal::{Answer, Refusal};

/// `bytes` in lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

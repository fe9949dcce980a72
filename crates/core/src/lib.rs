//! The decisions of Portcullis, free of I/O: configuration and its validation, which upstream
//! tools are exposed and under what name, the published catalogue with its pagination, who may
//! call what, and the audit record with its hash chain.
//!
//! Nothing here opens a socket, reads a file or reads the clock; the gateway crate does that and
//! asks this crate what to do.

pub mod audit;
pub mod catalogue;
pub mod config;
pub mod duration;
pub mod exposure;
pub mod guardrail;
pub mod limits;
pub mod policy;
pub mod redact;

pub use catalogue::{Catalogue, CatalogueNote, PublishedTool, UpstreamListing};
pub use config::{
    AuthSettings, Config, ConfigError, ConfigProblem, LimitSettings, SecretSource, UpstreamSpec,
    UpstreamTransport,
};
pub use exposure::{Exposure, ExposureDecision};
pub use policy::{AccessRules, Authorized, Denial, Principal, PrincipalKind, authorize, may_see};

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

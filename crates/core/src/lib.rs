//! The decisions of Portcullis, free of I/O: configuration and its validation, which upstream
//! tools are exposed and under what name, and the published catalogue with its pagination.
//!
//! Nothing here opens a socket, reads a file or reads the clock; the gateway crate does that and
//! asks this crate what to do.

pub mod catalogue;
pub mod config;
pub mod duration;
pub mod exposure;

pub use catalogue::{Catalogue, CatalogueNote, PublishedTool, UpstreamListing};
pub use config::{
    Config, ConfigError, ConfigProblem, SecretSource, UpstreamSpec, UpstreamTransport,
};
pub use exposure::{Exposure, ExposureDecision};

//! Integration tests: the real `portcullis` binary, real upstreams, real clients on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod approvals;
mod audit;
mod auth;
mod cli;
mod daemon;
mod exposure;
mod forwarding;
mod guardrail;
mod harness;
mod holes;
mod limits;
mod lint;
mod login;
mod oauth;
mod pins;
mod redaction;
mod registry;
mod rules;
mod sinks;
mod stdio;
mod upstreams;

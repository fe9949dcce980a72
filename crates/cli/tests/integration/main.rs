//! Integration tests: the real `portcullis` binary, real upstreams, real clients on loopback.

mod cli;
mod exposure;
mod forwarding;
mod harness;
mod upstreams;

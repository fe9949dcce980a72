//! The first checks on every HTTP request, before any MCP handling: the client's address
//! against the IP allow and deny lists, the `Host` allow-list (DNS rebinding), `Origin`
//! validation (a browser page on another origin gets 403; the spec's MUST, which rmcp leaves off
//! by default), and the concurrency limit (503 with `Retry-After` past it).
//!
//! The lists come from the config; what is not on them is refused, a request whose headers
//! cannot be read is refused too.
//!
//! This is also where a request's [`Exchange`] begins: every request but a passing health
//! check gets one, refusals here included, and it rides in the request's extensions to the
//! phases after. The response carries the request id in `x-request-id`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use ipnet::IpNet;
use portcullis_core::audit::{Decision, Outcome};
use portcullis_core::{Exchange, Refusal};
use tokio::sync::Semaphore;

use crate::server::Gateway;
use crate::wire;

/// An `Origin` or allow-list entry, normalised: scheme and host lower-case, host without IPv6
/// brackets, port explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

fn parse_origin(text: &str) -> Option<Origin> {
    let uri: Uri = text.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    let port = authority.port_u16().or(match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    if uri.path() != "/" && !uri.path().is_empty() {
        return None;
    }
    Some(Origin {
        scheme,
        host: normalize_host(authority.host()),
        port,
    })
}

fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// Which clients, hosts and origins the edge accepts, and how many requests at once.
#[derive(Debug)]
pub struct EdgePolicy {
    /// `(host, port)`; a `None` port accepts any port.
    hosts: Vec<(String, Option<u16>)>,
    origins: Vec<Origin>,
    null_origin: bool,
    /// Empty: every address.
    allowed_ips: Vec<IpNet>,
    denied_ips: Vec<IpNet>,
    in_flight: Arc<Semaphore>,
}

impl EdgePolicy {
    /// `hosts` are names or `name:port`; `origins` are `scheme://host[:port]` or `null`.
    pub fn new(
        hosts: &[String],
        origins: &[String],
        allowed_ips: Vec<IpNet>,
        denied_ips: Vec<IpNet>,
        max_concurrent: usize,
    ) -> EdgePolicy {
        let hosts = hosts
            .iter()
            .map(|h| match h.trim().parse::<http::uri::Authority>() {
                Ok(a) => (normalize_host(a.host()), a.port_u16()),
                Err(_) => (normalize_host(h.trim()), None),
            })
            .collect();
        EdgePolicy {
            hosts,
            origins: origins.iter().filter_map(|o| parse_origin(o)).collect(),
            null_origin: origins.iter().any(|o| o == "null"),
            allowed_ips,
            denied_ips,
            in_flight: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    /// Checks the client's address. Without one (the server was not started with connect
    /// info), any IP rule refuses: the rules cannot be applied, so nothing gets through.
    pub fn check_client(&self, client: Option<IpAddr>) -> Result<(), EdgeRefusal> {
        if self.allowed_ips.is_empty() && self.denied_ips.is_empty() {
            return Ok(());
        }
        let refused = EdgeRefusal {
            status: StatusCode::FORBIDDEN,
            reason: "client address is not allowed",
        };
        let Some(ip) = client.map(|ip| ip.to_canonical()) else {
            tracing::error!("IP rules are configured but the server does not see client addresses");
            return Err(refused);
        };
        if self.denied_ips.iter().any(|n| n.contains(&ip)) {
            return Err(refused);
        }
        if !self.allowed_ips.is_empty() && !self.allowed_ips.iter().any(|n| n.contains(&ip)) {
            return Err(refused);
        }
        Ok(())
    }

    pub fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), EdgeRefusal> {
        let authority = match headers.get(http::header::HOST) {
            Some(h) => h
                .to_str()
                .ok()
                .and_then(|h| h.parse::<http::uri::Authority>().ok()),
            None => uri.authority().cloned(),
        };
        let Some(authority) = authority else {
            return Err(EdgeRefusal {
                status: StatusCode::BAD_REQUEST,
                reason: "missing or invalid Host header",
            });
        };
        let host = normalize_host(authority.host());
        let port = authority.port_u16();
        let host_ok = self
            .hosts
            .iter()
            .any(|(h, p)| *h == host && (p.is_none() || *p == port));
        if !host_ok {
            tracing::warn!(host = %authority, "refused a request for a host not on the allow-list");
            return Err(EdgeRefusal {
                status: StatusCode::FORBIDDEN,
                reason: "Host header is not allowed",
            });
        }
        let Some(origin) = headers.get(http::header::ORIGIN) else {
            return Ok(());
        };
        let allowed = match origin.to_str() {
            Ok("null") => self.null_origin,
            Ok(text) => parse_origin(text).is_some_and(|o| self.origins.contains(&o)),
            Err(_) => false,
        };
        if allowed {
            Ok(())
        } else {
            tracing::warn!(origin = ?origin, "refused a request from an origin not on the allow-list");
            Err(EdgeRefusal {
                status: StatusCode::FORBIDDEN,
                reason: "Origin header is not allowed",
            })
        }
    }
}

/// A request the edge turns away, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeRefusal {
    pub status: StatusCode,
    pub reason: &'static str,
}

impl From<EdgeRefusal> for Refusal {
    fn from(r: EdgeRefusal) -> Refusal {
        Refusal::edge(r.status.as_u16(), r.reason, None)
    }
}

/// The path health checks use; a passing one is not an MCP request and leaves no record.
const HEALTH: &str = "/healthz";

/// The axum middleware applying an [`EdgePolicy`], and where each request's [`Exchange`]
/// begins.
pub async fn enforce(
    State((gateway, policy)): State<(Arc<Gateway>, Arc<EdgePolicy>)>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let checked = policy
        .check_client(client)
        .and_then(|()| policy.check(request.uri(), request.headers()));
    let permit = match checked {
        Ok(()) => policy.in_flight.clone().try_acquire_owned().map_err(|_| {
            tracing::warn!("too many requests at once; refused one with 503");
            Refusal::edge(
                503,
                "too many requests at once",
                Some(std::time::Duration::from_secs(1)),
            )
        }),
        Err(refusal) => Err(refusal.into()),
    };
    if permit.is_ok() && request.uri().path() == HEALTH {
        return next.run(request).await;
    }
    let exchange = gateway.recorder().begin(
        "http",
        client,
        format!("{} {}", request.method(), request.uri().path()),
    );
    let response = match permit {
        Err(refusal) => {
            exchange.refuse(&refusal);
            let response = wire::render(&refusal, gateway.authenticator()).into_response(None);
            wire::closing_unread(&request, response)
        }
        Ok(_permit) => {
            request.extensions_mut().insert(exchange.clone());
            let response = next.run(request).await;
            exchange.fallback(
                if response.status().is_success() {
                    Decision::Allowed
                } else {
                    Decision::Denied
                },
                match response.status() {
                    s if s.is_success() => Outcome::Ok,
                    s if s.is_server_error() => Outcome::Unavailable,
                    _ => Outcome::Refused,
                },
                format!("answered with HTTP {}", response.status().as_u16()),
            );
            response
        }
    };
    with_request_id(response, &exchange)
}

fn with_request_id(mut response: Response, exchange: &Exchange) -> Response {
    if let Ok(id) = HeaderValue::try_from(exchange.request_id()) {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[String], origins: &[String]) -> EdgePolicy {
        EdgePolicy::new(hosts, origins, vec![], vec![], 4)
    }

    #[test]
    fn client_addresses_are_checked_against_both_lists() {
        let nets = |v: &[&str]| -> Vec<IpNet> { v.iter().map(|n| n.parse().unwrap()).collect() };
        let p = EdgePolicy::new(
            &[],
            &[],
            nets(&["10.0.0.0/8", "::1/128"]),
            nets(&["10.0.0.66/32"]),
            4,
        );
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(p.check_client(ip("10.1.2.3")).is_ok());
        assert!(p.check_client(ip("::1")).is_ok());
        assert!(
            p.check_client(ip("::ffff:10.1.2.3")).is_ok(),
            "IPv4-mapped addresses are canonicalised"
        );
        assert!(p.check_client(ip("10.0.0.66")).is_err(), "deny wins");
        assert!(p.check_client(ip("192.168.1.1")).is_err());
        assert!(p.check_client(None).is_err(), "no address, no entry");
        let open = EdgePolicy::new(&[], &[], vec![], vec![], 4);
        assert!(open.check_client(None).is_ok());
    }

    fn check(policy: &EdgePolicy, host: &str, origin: Option<&str>) -> Option<StatusCode> {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            headers.insert(http::header::ORIGIN, o.parse().unwrap());
        }
        policy
            .check(&Uri::from_static("/mcp"), &headers)
            .err()
            .map(|r| r.status)
    }

    #[test]
    fn hosts_match_by_name_and_optional_port() {
        let p = policy(
            &[
                "localhost".into(),
                "::1".into(),
                "api.example.com:8443".into(),
            ],
            &[],
        );
        assert_eq!(check(&p, "localhost:1234", None), None);
        assert_eq!(check(&p, "LOCALHOST", None), None);
        assert_eq!(check(&p, "[::1]:80", None), None);
        assert_eq!(check(&p, "api.example.com:8443", None), None);
        assert_eq!(
            check(&p, "api.example.com:9000", None),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            check(&p, "evil.example.com", None),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            check(&p, "localhost.evil.com", None),
            Some(StatusCode::FORBIDDEN)
        );
    }

    #[test]
    fn origins_must_match_scheme_host_and_port() {
        let p = policy(
            &["localhost".into()],
            &[
                "http://localhost:8080".into(),
                "https://app.example.com".into(),
            ],
        );
        assert_eq!(check(&p, "localhost", Some("http://localhost:8080")), None);
        assert_eq!(check(&p, "localhost", Some("HTTP://LOCALHOST:8080")), None);
        assert_eq!(
            check(&p, "localhost", Some("https://app.example.com")),
            None
        );
        assert_eq!(
            check(&p, "localhost", Some("https://app.example.com:443")),
            None
        );
        for bad in [
            "http://localhost:8081",
            "https://localhost:8080",
            "https://app.example.com:8443",
            "http://app.example.com",
            "null",
            "not a url",
            "https://app.example.com.evil.com",
        ] {
            assert_eq!(
                check(&p, "localhost", Some(bad)),
                Some(StatusCode::FORBIDDEN),
                "{bad}"
            );
        }
        let with_null = policy(&["localhost".into()], &["null".into()]);
        assert_eq!(check(&with_null, "localhost", Some("null")), None);
    }
}

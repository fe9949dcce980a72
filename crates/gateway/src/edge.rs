//! The first checks on every HTTP request, before any MCP handling: the `Host` allow-list (DNS
//! rebinding) and `Origin` validation (a browser page on another origin gets 403; the spec's
//! MUST, which rmcp leaves off by default).
//!
//! Both lists come from the config; what is not on them is refused, and a request whose headers
//! cannot be read is refused too.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, Uri};

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

/// Which hosts and origins the edge accepts.
#[derive(Debug, Clone)]
pub struct EdgePolicy {
    /// `(host, port)`; a `None` port accepts any port.
    hosts: Vec<(String, Option<u16>)>,
    origins: Vec<Origin>,
    null_origin: bool,
}

impl EdgePolicy {
    /// `hosts` are names or `name:port`; `origins` are `scheme://host[:port]` or `null`.
    pub fn new(hosts: &[String], origins: &[String]) -> EdgePolicy {
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
        }
    }

    pub fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
        let authority = match headers.get(http::header::HOST) {
            Some(h) => h
                .to_str()
                .ok()
                .and_then(|h| h.parse::<http::uri::Authority>().ok()),
            None => uri.authority().cloned(),
        };
        let Some(authority) = authority else {
            return Err(Refusal {
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
            return Err(Refusal {
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
            Err(Refusal {
                status: StatusCode::FORBIDDEN,
                reason: "Origin header is not allowed",
            })
        }
    }
}

/// A request the edge turns away, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: &'static str,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, format!("{}\n", self.reason)).into_response()
    }
}

/// The axum middleware applying an [`EdgePolicy`].
pub async fn enforce(
    State(policy): State<std::sync::Arc<EdgePolicy>>,
    request: Request,
    next: Next,
) -> Response {
    match policy.check(request.uri(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let p = EdgePolicy::new(
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
        let p = EdgePolicy::new(
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
        let with_null = EdgePolicy::new(&["localhost".into()], &["null".into()]);
        assert_eq!(check(&with_null, "localhost", Some("null")), None);
    }
}

//! `[gateway]`: where the gateway listens and what its edge accepts (hosts, origins, client
//! addresses, body size, concurrency, timeouts, page size).

use crate::pins::PinMode;

use super::*;

/// Default number of tools per `tools/list` page.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// Default cap on an HTTP request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawGateway {
    pub(super) listen: Option<String>,
    pub(super) separator: Option<String>,
    pub(super) page_size: Option<usize>,
    pub(super) max_body_bytes: Option<usize>,
    pub(super) allowed_hosts: Option<Vec<String>>,
    pub(super) allowed_origins: Option<Vec<String>>,
    pub(super) allowed_ips: Option<Vec<String>>,
    pub(super) denied_ips: Option<Vec<String>>,
    pub(super) max_concurrent_requests: Option<usize>,
    pub(super) request_timeout: Option<String>,
    pub(super) pins: Option<String>,
    pub(super) catalogue: Option<String>,
}

/// `[gateway]`: how the gateway serves its clients.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Address to listen on. Default `127.0.0.1:8080`: loopback only.
    pub listen: String,
    /// Between upstream name and tool name in a published name. Default `_`.
    pub separator: String,
    /// Tools per `tools/list` page. Default 100.
    pub page_size: usize,
    /// Largest accepted HTTP request body. Default 1 MiB.
    pub max_body_bytes: usize,
    /// Accepted `Host` header values (DNS-rebinding defence). Default: loopback names only.
    pub allowed_hosts: Vec<String>,
    /// Accepted browser `Origin`s. Default: only the gateway's own origin, so a request from any
    /// other page is refused.
    pub allowed_origins: Vec<String>,
    /// Client addresses served, as CIDR blocks or single addresses. Default: any.
    pub allowed_ips: Vec<IpNet>,
    /// Client addresses refused, even when also allowed. Default: none.
    pub denied_ips: Vec<IpNet>,
    /// HTTP requests served at once; more get 503. Default 256.
    pub max_concurrent_requests: usize,
    /// Longest time to receive a request body. Default 30 s.
    pub request_timeout: Duration,
    /// Whether a tool seen for the first time is pinned and published (`first-sight`, the
    /// default) or waits for an operator (`strict`).
    pub pins: PinMode,
    /// What `/mcp` lists: every tool the caller may see, or the three meta-tools.
    pub catalogue: CatalogueMode,
}

/// How an endpoint offers its tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CatalogueMode {
    /// `tools/list` lists every tool the caller may see.
    #[default]
    Full,
    /// `tools/list` lists `search_tools`, `describe_tool` and `call_tool`, which find, describe
    /// and call the same tools under the same policy (for catalogues too large to list).
    Meta,
}

impl CatalogueMode {
    pub(super) fn parse(text: Option<String>, path: &str, p: &mut Problems<'_>) -> CatalogueMode {
        match text.as_deref() {
            None | Some("full") => CatalogueMode::Full,
            Some("meta") => CatalogueMode::Meta,
            Some(other) => {
                p.add(
                    path.to_string(),
                    format!("unknown catalogue `{other}`; use \"full\" (list every tool) or \"meta\" (search_tools, describe_tool, call_tool)"),
                );
                CatalogueMode::Full
            }
        }
    }
}

pub(super) fn gateway_settings(raw: RawGateway, p: &mut Problems<'_>) -> GatewaySettings {
    let listen = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
    if listen.parse::<std::net::SocketAddr>().is_err() {
        p.add(
            "gateway.listen",
            format!("`{listen}` is not an address; write it like `127.0.0.1:8080`"),
        );
    }
    let separator = raw.separator.unwrap_or_else(|| "_".into());
    if separator.is_empty()
        || separator.len() > 3
        || !separator.chars().all(|c| matches!(c, '_' | '-' | '.'))
    {
        p.add(
            "gateway.separator",
            format!("`{separator}` is not allowed; use 1 to 3 of `_`, `-` or `.`"),
        );
    }
    let page_size = raw.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if page_size == 0 {
        p.add("gateway.page_size", "must be at least 1");
    }
    let max_body_bytes = raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body_bytes < 1024 {
        p.add(
            "gateway.max_body_bytes",
            "must be at least 1024; MCP requests do not fit in less",
        );
    }
    let allowed_hosts = raw
        .allowed_hosts
        .unwrap_or_else(|| vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]);
    let allowed_origins = raw.allowed_origins.unwrap_or_default();
    for (i, o) in allowed_origins.iter().enumerate() {
        if o != "null" && !(o.starts_with("http://") || o.starts_with("https://")) {
            p.add(
                format!("gateway.allowed_origins[{i}]"),
                format!("`{o}` has no scheme; write it like `https://app.example.com`"),
            );
        }
    }
    let mut nets = |key: &str, list: Option<Vec<String>>| -> Vec<IpNet> {
        let mut out = Vec::new();
        for (i, text) in list.unwrap_or_default().iter().enumerate() {
            match text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
            {
                Ok(net) => out.push(net),
                Err(_) => p.add(
                    format!("gateway.{key}[{i}]"),
                    format!("`{text}` is not an address or CIDR block; write it like `10.0.0.0/8` or `::1`"),
                ),
            }
        }
        out
    };
    let allowed_ips = nets("allowed_ips", raw.allowed_ips);
    let denied_ips = nets("denied_ips", raw.denied_ips);
    let max_concurrent_requests = raw.max_concurrent_requests.unwrap_or(256);
    if max_concurrent_requests == 0 {
        p.add("gateway.max_concurrent_requests", "must be at least 1");
    }
    let request_timeout = positive_duration(
        raw.request_timeout.as_deref(),
        "gateway.request_timeout",
        Duration::from_secs(30),
        p,
    );
    let pins = raw.pins.map_or(PinMode::default(), |text| {
        PinMode::parse(&text).unwrap_or_else(|msg| {
            p.add("gateway.pins", msg);
            PinMode::default()
        })
    });
    GatewaySettings {
        catalogue: CatalogueMode::parse(raw.catalogue, "gateway.catalogue", p),
        pins,
        listen,
        separator,
        page_size,
        max_body_bytes,
        allowed_hosts,
        allowed_origins,
        allowed_ips,
        denied_ips,
        max_concurrent_requests,
        request_timeout,
    }
}

//! `[upstreams.NAME]`: the servers and APIs tools come from (stdio, Streamable HTTP, OpenAPI),
//! their timeouts, headers and the secrets those name.

use super::*;

/// Default per-upstream timeout for a single request.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize)]
pub(super) struct RawUpstream {
    pub(super) kind: String,
    // stdio
    pub(super) command: Option<String>,
    pub(super) args: Option<Vec<String>>,
    pub(super) env: Option<BTreeMap<String, String>>,
    pub(super) inherit_env: Option<Vec<String>>,
    pub(super) cwd: Option<String>,
    // http
    pub(super) url: Option<String>,
    pub(super) headers: Option<BTreeMap<String, RawSecret>>,
    pub(super) oauth: Option<RawClientCredentials>,
    pub(super) login: Option<RawLogin>,
    // openapi
    pub(super) spec: Option<String>,
    pub(super) base_url: Option<String>,
    pub(super) refresh: Option<String>,
    pub(super) max_response_bytes: Option<usize>,
    pub(super) embedded: Option<bool>,
    pub(super) operations: Option<BTreeMap<String, RawOperation>>,
    // stdio and http: what the upstream may ask of the client whose call it serves
    pub(super) sampling: Option<bool>,
    pub(super) elicitation: Option<bool>,
    pub(super) roots: Option<bool>,
    pub(super) max_timeout: Option<String>,
    // all
    /// `false` keeps the upstream configured but not started (`portcullis upstreams disable`).
    pub(super) enabled: Option<bool>,
    pub(super) timeout: Option<String>,
    pub(super) prefix: Option<String>,
    pub(super) deny: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawLogin {
    pub(super) scopes: Option<Vec<String>>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<RawSecret>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawOperation {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawSecret {
    pub(super) env: Option<String>,
    pub(super) file: Option<String>,
    pub(super) value: Option<String>,
}

/// One upstream MCP server.
#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    pub name: String,
    /// Put before each of its tool names when published. Default `<name><separator>`; may be
    /// empty when tool names are unique across upstreams (collisions are never published).
    pub prefix: String,
    /// Published names (globs, exact case) refused even though exposed.
    pub deny: Vec<ToolPattern>,
    pub transport: UpstreamTransport,
    /// Longest wait for one upstream request. Default 60 s.
    pub timeout: Duration,
    /// Longest a call may run when the upstream keeps reporting progress (each progress
    /// message starts `timeout` again, up to this in all). Default: `timeout` (progress does
    /// not extend it).
    pub max_timeout: Duration,
    /// What the upstream may ask of the client whose call it serves.
    pub client: ClientRequests,
}

/// The requests an upstream may send to the client whose call it serves. The gateway declares
/// to the upstream exactly the capabilities allowed here; a request of another kind is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientRequests {
    /// `sampling/createMessage`: the upstream has the client's model write. Off by default.
    pub sampling: bool,
    /// `elicitation/create`: the upstream asks the client's user. On by default.
    pub elicitation: bool,
    /// `roots/list`: the upstream learns the client's roots. Off by default: the upstream's
    /// session is shared by every client, and a server that keeps the roots it was given for
    /// its session (the reference server does) shows one client's roots to the next.
    pub roots: bool,
}

impl ClientRequests {
    pub fn allows(self, kind: crate::ports::ClientRequestKind) -> bool {
        use crate::ports::ClientRequestKind::*;
        match kind {
            Sampling => self.sampling,
            Elicitation => self.elicitation,
            Roots => self.roots,
        }
    }
}

impl Default for ClientRequests {
    fn default() -> Self {
        ClientRequests {
            sampling: false,
            elicitation: true,
            roots: false,
        }
    }
}

#[derive(Debug, Clone)]
pub enum UpstreamTransport {
    /// A child process speaking MCP on stdin/stdout.
    Stdio {
        /// Program to run; `$PORTCULLIS` means this very binary.
        command: String,
        args: Vec<String>,
        /// Variables set for the child, which otherwise starts with an empty environment.
        env: Vec<(String, String)>,
        /// Names of the gateway's own variables passed through to the child.
        inherit_env: Vec<String>,
        cwd: Option<PathBuf>,
    },
    /// A Streamable HTTP MCP endpoint.
    Http {
        url: String,
        /// Headers the gateway sends with its own credentials; never the client's.
        headers: Vec<(String, SecretSource)>,
        /// A bearer token the gateway obtains for itself, if configured.
        oauth: Option<ClientCredentials>,
        /// A hosted server that needs a user's OAuth login (`portcullis login NAME`).
        login: Option<LoginSettings>,
    },
    /// An HTTP API described by an OpenAPI 3.0/3.1 document, its operations bridged to tools.
    OpenApi(OpenApiSpec),
}

/// `login = { … }`: the upstream needs an OAuth login by a user. `portcullis login NAME` finds
/// its authorization server (RFC 9728, RFC 8414), registers a client (RFC 7591) unless one is
/// configured, and runs the authorization code flow with PKCE (or the device flow); the tokens
/// are kept encrypted in the data directory and refreshed by the gateway.
#[derive(Debug, Clone, Default)]
pub struct LoginSettings {
    /// Scopes asked for; default: those the server's metadata lists.
    pub scopes: Vec<String>,
    /// A client registered beforehand (else one is registered dynamically).
    pub client_id: Option<String>,
    pub client_secret: Option<SecretSource>,
}

/// `kind = "openapi"`: where the document is, where the API is, and how to reach it.
#[derive(Debug, Clone)]
pub struct OpenApiSpec {
    /// The document: an http(s) URL, or a file relative to the config; `None` when embedded.
    pub spec: Option<String>,
    /// Where requests go (`https://api.example.com`); `None` when embedded.
    pub base_url: Option<String>,
    /// The API is an axum router in this process, handed over by the embedding app.
    pub embedded: bool,
    /// Sent with every request, as for HTTP upstreams.
    pub headers: Vec<(String, SecretSource)>,
    pub oauth: Option<ClientCredentials>,
    /// How often the document is fetched again. Default 10 min.
    pub refresh: Duration,
    /// Largest response body read. Default 4 MiB.
    pub max_response_bytes: usize,
    /// Tool names and descriptions replacing the operation's, by operationId.
    pub operations: BTreeMap<String, OperationOverride>,
}

#[derive(Debug, Clone, Default)]
pub struct OperationOverride {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// Where a header value comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The named environment variable of the gateway process.
    Env(String),
    /// The contents of a file (trailing newline removed), relative to the config file.
    File(PathBuf),
    /// A literal, for values that are not secret.
    Value(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "Env({name})"),
            Self::File(path) => write!(f, "File({})", path.display()),
            Self::Value(_) => f.write_str("Value(..)"),
        }
    }
}

/// What is wrong with an upstream's address, and why it matters.
fn in_clear(problem: &str) -> String {
    format!(
        "{problem}: the gateway's credentials for the upstream, and what callers send and \
         receive, would cross the network unencrypted"
    )
}

/// Whether `url` is http(s), and https unless its host is a loopback address.
pub(super) fn url_problem(url: &str) -> Option<&'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return Some("not an http(s) URL");
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(name, _)| name);
    let loopback = matches!(name, "localhost" | "127.0.0.1" | "[::1]");
    if host.is_empty() {
        Some("has no host")
    } else if url.starts_with("http://") && !loopback {
        Some("must be https (plain http is accepted for loopback addresses only)")
    } else {
        None
    }
}

pub(super) fn secret(raw: RawSecret, path: &str, p: &mut Problems<'_>) -> Option<SecretSource> {
    match (raw.env, raw.file, raw.value) {
        (Some(v), None, None) => Some(SecretSource::Env(v)),
        (None, Some(f), None) => Some(SecretSource::File(f.into())),
        (None, None, Some(v)) => Some(SecretSource::Value(v)),
        _ => {
            p.add(
                path,
                "give exactly one of `env = \"VAR\"`, `file = \"path\"` or `value = \"…\"`",
            );
            None
        }
    }
}

/// The static headers of an HTTP or OpenAPI upstream (`path` is the upstream's).
pub(super) fn upstream_headers(
    raw: Option<BTreeMap<String, RawSecret>>,
    oauth: bool,
    path: &str,
    p: &mut Problems<'_>,
) -> Vec<(String, SecretSource)> {
    let mut headers = Vec::new();
    for (h, s) in raw.unwrap_or_default() {
        let hpath = format!("{path}.headers.{h}");
        if h.eq_ignore_ascii_case("host") || h.eq_ignore_ascii_case("content-length") {
            p.add(hpath.clone(), "this header is set by the gateway itself");
        }
        if oauth && h.eq_ignore_ascii_case("authorization") {
            p.add(
                hpath.clone(),
                "`oauth` or `login` sets Authorization; remove one of them",
            );
        }
        headers.extend(secret(s, &hpath, p).map(|source| (h, source)));
    }
    headers
}

pub(super) fn is_valid_upstream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

pub(super) fn upstream_spec(
    name: String,
    raw: RawUpstream,
    separator: &str,
    p: &mut Problems<'_>,
) -> Option<UpstreamSpec> {
    let path = format!("upstreams.{name}");
    if !is_valid_upstream_name(&name) {
        p.add(
            path.clone(),
            "upstream names are 1 to 32 ASCII letters, digits or `-` (they prefix tool names)",
        );
    }
    let prefix = raw.prefix.unwrap_or_else(|| format!("{name}{separator}"));
    if prefix.len() > 64
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        p.add(
            format!("{path}.prefix"),
            "use at most 64 ASCII letters, digits, `_`, `-` or `.` (it starts tool names)",
        );
    }
    let deny = patterns(&raw.deny.unwrap_or_default(), &format!("{path}.deny"), p);
    let timeout = positive_duration(
        raw.timeout.as_deref(),
        &format!("{path}.timeout"),
        DEFAULT_UPSTREAM_TIMEOUT,
        p,
    );
    let not_for = |p: &mut Problems<'_>, key: &str, present: bool, kind: &str| {
        if present {
            p.add(
                format!("{path}.{key}"),
                format!("not used by kind = \"{kind}\"; remove it"),
            );
        }
    };
    let max_timeout = match raw.max_timeout.as_deref() {
        None => timeout,
        Some(text) => {
            let total = positive_duration(Some(text), &format!("{path}.max_timeout"), timeout, p);
            if total < timeout {
                p.add(
                    format!("{path}.max_timeout"),
                    "shorter than `timeout`; give the longest a call may run in all while the \
                     upstream reports progress",
                );
            }
            total
        }
    };
    let defaults = ClientRequests::default();
    let client = ClientRequests {
        sampling: raw.sampling.unwrap_or(defaults.sampling),
        elicitation: raw.elicitation.unwrap_or(defaults.elicitation),
        roots: raw.roots.unwrap_or(defaults.roots),
    };
    if raw.kind == "openapi" {
        for (key, present) in [
            ("sampling", raw.sampling.is_some()),
            ("elicitation", raw.elicitation.is_some()),
            ("roots", raw.roots.is_some()),
            ("max_timeout", raw.max_timeout.is_some()),
        ] {
            not_for(p, key, present, "openapi");
        }
    }
    if raw.kind != "http" {
        not_for(p, "login", raw.login.is_some(), &raw.kind);
    }
    if raw.kind != "openapi" {
        for (key, present) in [
            ("spec", raw.spec.is_some()),
            ("base_url", raw.base_url.is_some()),
            ("refresh", raw.refresh.is_some()),
            ("max_response_bytes", raw.max_response_bytes.is_some()),
            ("embedded", raw.embedded.is_some()),
            ("operations", raw.operations.is_some()),
        ] {
            not_for(p, key, present, &raw.kind);
        }
    }
    let transport = match raw.kind.as_str() {
        "stdio" => {
            not_for(p, "url", raw.url.is_some(), "stdio");
            not_for(p, "headers", raw.headers.is_some(), "stdio");
            not_for(p, "oauth", raw.oauth.is_some(), "stdio");
            let command = raw.command.unwrap_or_default();
            if command.trim().is_empty() {
                p.add(
                    format!("{path}.command"),
                    "missing; name the program that runs the MCP server",
                );
            }
            let inherit_env = raw.inherit_env.unwrap_or_default();
            for (i, v) in inherit_env.iter().enumerate() {
                if v.is_empty() || v.contains('=') {
                    p.add(format!("{path}.inherit_env[{i}]"), "not a variable name");
                }
            }
            UpstreamTransport::Stdio {
                command,
                args: raw.args.unwrap_or_default(),
                env: raw.env.unwrap_or_default().into_iter().collect(),
                inherit_env,
                cwd: raw.cwd.map(PathBuf::from),
            }
        }
        "http" => {
            for (key, present) in [
                ("command", raw.command.is_some()),
                ("args", raw.args.is_some()),
                ("env", raw.env.is_some()),
                ("inherit_env", raw.inherit_env.is_some()),
                ("cwd", raw.cwd.is_some()),
            ] {
                not_for(p, key, present, "http");
            }
            let url = raw.url.unwrap_or_default();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                p.add(
                    format!("{path}.url"),
                    "missing or not an http(s) URL; write it like `https://mcp.example.com/mcp`",
                );
            } else if let Some(problem) = url_problem(&url) {
                p.add(format!("{path}.url"), in_clear(problem));
            }
            if raw.oauth.is_some() && raw.login.is_some() {
                p.add(
                    format!("{path}.login"),
                    "`oauth` (the gateway's own client credentials) and `login` (a user's login) both set Authorization; keep one",
                );
            }
            let headers = upstream_headers(
                raw.headers,
                raw.oauth.is_some() || raw.login.is_some(),
                &path,
                p,
            );
            let oauth = raw
                .oauth
                .and_then(|o| client_credentials(o, &format!("{path}.oauth"), p));
            let login = raw.login.map(|l| {
                let lpath = format!("{path}.login");
                if l.client_secret.is_some() && l.client_id.is_none() {
                    p.add(
                        format!("{lpath}.client_secret"),
                        "a client secret without `client_id`; set both, or neither (a client is then registered)",
                    );
                }
                let scopes = l.scopes.unwrap_or_default();
                super::check_scopes(&scopes, &lpath, p);
                LoginSettings {
                    scopes,
                    client_id: l.client_id,
                    client_secret: l
                        .client_secret
                        .and_then(|s| secret(s, &format!("{lpath}.client_secret"), p)),
                }
            });
            UpstreamTransport::Http {
                url,
                headers,
                oauth,
                login,
            }
        }
        "openapi" => {
            for (key, present) in [
                ("command", raw.command.is_some()),
                ("args", raw.args.is_some()),
                ("env", raw.env.is_some()),
                ("inherit_env", raw.inherit_env.is_some()),
                ("cwd", raw.cwd.is_some()),
                ("url", raw.url.is_some()),
            ] {
                not_for(p, key, present, "openapi");
            }
            let embedded = raw.embedded.unwrap_or(false);
            if !embedded {
                if raw.spec.as_deref().is_none_or(str::is_empty) {
                    p.add(
                        format!("{path}.spec"),
                        "missing; give the OpenAPI document's URL (`http://127.0.0.1:8000/openapi.json`) or file",
                    );
                }
                match raw.base_url.as_deref() {
                    Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                        if let Some(problem) = url_problem(u) {
                            p.add(format!("{path}.base_url"), in_clear(problem));
                        }
                    }
                    _ => p.add(
                        format!("{path}.base_url"),
                        "missing or not an http(s) URL; write where the API is served, like `http://127.0.0.1:8000`",
                    ),
                }
            }
            let headers = upstream_headers(raw.headers, raw.oauth.is_some(), &path, p);
            let oauth = raw
                .oauth
                .and_then(|o| client_credentials(o, &format!("{path}.oauth"), p));
            let refresh = positive_duration(
                raw.refresh.as_deref(),
                &format!("{path}.refresh"),
                Duration::from_secs(600),
                p,
            );
            let operations = raw
                .operations
                .unwrap_or_default()
                .into_iter()
                .map(|(id, o)| {
                    if let Some(name) = &o.name
                        && (name.is_empty()
                            || !name
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
                    {
                        p.add(
                            format!("{path}.operations.{id}.name"),
                            "use ASCII letters, digits, `_`, `-` or `.`",
                        );
                    }
                    (
                        id,
                        OperationOverride {
                            name: o.name,
                            description: o.description,
                        },
                    )
                })
                .collect();
            UpstreamTransport::OpenApi(OpenApiSpec {
                spec: raw.spec.filter(|_| !embedded),
                base_url: raw.base_url.filter(|_| !embedded),
                embedded,
                headers,
                oauth,
                refresh,
                max_response_bytes: raw.max_response_bytes.unwrap_or(4 << 20),
                operations,
            })
        }
        other => {
            p.add(
                format!("{path}.kind"),
                format!("unknown kind `{other}`; use \"stdio\", \"http\" or \"openapi\""),
            );
            return None;
        }
    };
    Some(UpstreamSpec {
        name,
        prefix,
        deny,
        transport,
        timeout,
        max_timeout,
        client,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::problems;

    #[test]
    fn bad_upstream_names_and_timeouts_are_rejected() {
        let p = problems(
            r#"
            [upstreams."a_b"]
            kind = "stdio"
            command = "x"
            timeout = "soon"
            [upstreams.c]
            kind = "ws"
            "#,
        );
        let joined = p.join("\n");
        assert!(joined.contains("upstreams.a_b: upstream names"), "{joined}");
        assert!(joined.contains("upstreams.a_b.timeout:"), "{joined}");
        assert!(
            joined.contains("upstreams.c.kind: unknown kind `ws`"),
            "{joined}"
        );
    }

    #[test]
    fn prefixes_default_to_name_and_separator() {
        let c = Config::from_toml(
            r#"
            gateway.separator = "__"
            [upstreams.a]
            kind = "stdio"
            command = "x"
            [upstreams.b]
            kind = "stdio"
            command = "x"
            prefix = ""
            "#,
        )
        .unwrap();
        let prefixes: Vec<&str> = c.upstreams.iter().map(|u| u.prefix.as_str()).collect();
        assert_eq!(prefixes, ["a__", ""]);
        let p = problems("[upstreams.a]\nkind = \"stdio\"\ncommand = \"x\"\nprefix = \"a b\"");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("upstreams.a.prefix:"), "{p:?}");
    }

    #[test]
    fn an_upstream_may_ask_the_client_to_elicit_only_unless_allowed_more() {
        let c = Config::from_toml("[upstreams.a]\nkind = \"stdio\"\ncommand = \"x\"\n").unwrap();
        assert_eq!(
            c.upstreams[0].client,
            ClientRequests {
                sampling: false,
                elicitation: true,
                roots: false,
            }
        );
        assert_eq!(c.upstreams[0].max_timeout, c.upstreams[0].timeout);
        let p = problems(
            "[upstreams.a]\nkind = \"openapi\"\nspec = \"s.json\"\nbase_url = \"http://127.0.0.1:1\"\n\
             sampling = true\n[upstreams.b]\nkind = \"stdio\"\ncommand = \"x\"\ntimeout = \"10s\"\n\
             max_timeout = \"5s\"",
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("upstreams.a.sampling: not used")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("upstreams.b.max_timeout: shorter")),
            "{p:?}"
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let c = Config::from_toml(
            r#"
            [upstreams.a]
            kind = "http"
            url = "http://127.0.0.1:1/mcp"
            headers.Authorization = { value = "Bearer hunter2" }
            "#,
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}

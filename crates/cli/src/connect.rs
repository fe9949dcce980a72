//! `portcullis init` (a config and data directory to start from) and `portcullis connect`
//! (what to paste into each MCP client to reach this gateway).

use clap::ValueEnum;
use serde_json::{Value, json};

use super::*;

/// The commented example config `init` writes (the quickstart's, from its first section on).
const EXAMPLE_CONFIG: &str = include_str!("../../../examples/quickstart.toml");

pub(crate) fn init(dir: &Path) -> anyhow::Result<ExitCode> {
    let config = dir.join("portcullis.toml");
    if config.exists() {
        bail!(
            "{} exists; init writes a new config only. Check the one there with \
             `portcullis check --config {0}`, or init another directory (--dir)",
            config.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let body = &EXAMPLE_CONFIG[EXAMPLE_CONFIG.find("[gateway]").unwrap_or(0)..];
    let text = format!(
        "# Portcullis, as `portcullis init` wrote it: loopback only, API keys required, the\n\
         # bundled example server behind it. Nothing is exposed unless an [[expose]] entry names\n\
         # it, and every exposed tool says whether it only reads (`read_only = true`) or may\n\
         # change things (`destructive = true`). Add upstreams with `portcullis upstreams add`.\n\n\
         {body}"
    );
    // What init writes, serve accepts as it is.
    Config::from_toml(&text).map_err(|e| anyhow::anyhow!("the built-in config: {e}"))?;
    std::fs::write(&config, text).with_context(|| format!("cannot write {}", config.display()))?;
    let data = DataDir::open(DataDir::choose(None, &config))?;
    let shown = config.display();
    println!("wrote {shown} and {}/", data.path().display());
    println!("next:");
    println!("  portcullis keys create --config {shown} --name me --scopes invoices:read,refunds");
    println!("  portcullis serve --config {shown}");
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Client {
    ClaudeCode,
    ClaudeDesktop,
    Cursor,
    Vscode,
    Codex,
    All,
}

pub(crate) struct ConnectRun {
    pub config_path: PathBuf,
    pub client: Client,
    pub group: Option<String>,
    pub key_name: Option<String>,
    pub scopes: Vec<String>,
    pub name: String,
}

/// The variable clients read the key from when `connect` issues none.
const KEY_VARIABLE: &str = "PORTCULLIS_API_KEY";

pub(crate) fn connect(run: ConnectRun, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = load_config(&run.config_path)?;
    let dir = open_data_dir(data_dir, Some(&run.config_path))?;
    if let Some(group) = &run.group
        && !config.access.group_names().any(|g| g == group)
    {
        bail!("--group {group}: the config has no such group; `portcullis groups list` names them");
    }
    let (base, running) = endpoint(&config, &dir)?;
    let url = match &run.group {
        Some(group) => format!("{base}/g/{group}"),
        None => base,
    };
    if !running {
        eprintln!(
            "note: no gateway is serving from {} now; the address is the config's \
             `gateway.listen`. Start it with `portcullis serve --config {}`",
            dir.path().display(),
            run.config_path.display()
        );
    }
    let token = match &run.key_name {
        Some(name) => {
            if !config.auth.api_keys {
                bail!(
                    "--key-name: this config does not accept API keys (`[auth] api_keys = true` turns them on)"
                );
            }
            let scopes: Vec<String> = run
                .scopes
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect();
            portcullis::operate::check_new_scopes(&scopes, &config.scopes())
                .map_err(anyhow::Error::msg)?;
            let store = KeyStore::open(&dir.database())?;
            let issued = store.create(name, &scopes, None, now_secs())?;
            eprintln!(
                "issued key {} for `{name}` (scopes: {}); revoke it with `portcullis keys revoke {0} --config {}`",
                issued.info.id,
                if scopes.is_empty() {
                    "none".into()
                } else {
                    scopes.join(",")
                },
                run.config_path.display()
            );
            Some(issued.token)
        }
        None => None,
    };
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
        .map_or_else(|| "portcullis".to_string(), |p| p.display().to_string());
    let config_abs = run
        .config_path
        .canonicalize()
        .unwrap_or(run.config_path.clone());
    let target = Target {
        name: &run.name,
        url: &url,
        token: token.as_deref(),
        exe: &exe,
        config: &config_abs.display().to_string(),
    };
    let all = run.client == Client::All;
    let mut first = true;
    for client in [
        Client::ClaudeCode,
        Client::ClaudeDesktop,
        Client::Cursor,
        Client::Vscode,
        Client::Codex,
    ] {
        if !(all || run.client == client) {
            continue;
        }
        if !first {
            println!();
        }
        first = false;
        print!("{}", target.snippet(client));
    }
    if token.is_none() {
        eprintln!(
            "note: the snippets read the key from ${KEY_VARIABLE}; issue one with \
             `portcullis keys create --config {} --name NAME --scopes …`, or pass --key-name",
            run.config_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The MCP endpoint clients reach: where a running gateway on this data directory says it
/// listens, else the config's `gateway.listen`. True when a gateway answers there now.
fn endpoint(config: &Config, dir: &DataDir) -> anyhow::Result<(String, bool)> {
    if let Some(recorded) = std::fs::read_to_string(dir.endpoint())
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        && let (Some(mcp), Some(addr)) = (
            recorded["mcp"].as_str(),
            recorded["addr"]
                .as_str()
                .and_then(|a| a.parse::<SocketAddr>().ok()),
        )
        && std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
    {
        return Ok((mcp.to_string(), true));
    }
    let mut addr: SocketAddr = config
        .gateway
        .listen
        .parse()
        .context("gateway.listen is not an address")?;
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let running = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok();
    Ok((format!("http://{addr}/mcp"), running))
}

/// What the snippets are made of.
struct Target<'a> {
    name: &'a str,
    url: &'a str,
    token: Option<&'a str>,
    exe: &'a str,
    config: &'a str,
}

impl Target<'_> {
    fn snippet(&self, client: Client) -> String {
        let Target { name, url, .. } = self;
        // Where the client can read a variable, the key stays out of the file.
        let bearer = |reference: &str| match self.token {
            Some(token) => format!("Bearer {token}"),
            None => format!("Bearer {reference}"),
        };
        match client {
            Client::ClaudeCode => {
                let header = match self.token {
                    Some(token) => shell_quote(&format!("Authorization: Bearer {token}")),
                    // Double quotes: the shell puts the key in.
                    None => format!("\"Authorization: Bearer ${KEY_VARIABLE}\""),
                };
                format!(
                    "# Claude Code: run this (`claude mcp list` then shows it connected)\n\
                     claude mcp add --transport http {name} {} --header {header}\n",
                    shell_quote(url)
                )
            }
            Client::Cursor => format!(
                "# Cursor: ~/.cursor/mcp.json (or .cursor/mcp.json in a project)\n{}\n",
                pretty(&json!({"mcpServers": {*name: {
                    "url": url,
                    "headers": {"Authorization": bearer(&format!("${{env:{KEY_VARIABLE}}}"))},
                }}}))
            ),
            Client::Vscode => format!(
                "# VS Code: .vscode/mcp.json (it asks for the key once and keeps it in its secret storage)\n{}\n",
                pretty(&json!({
                    "inputs": [{
                        "type": "promptString",
                        "id": "portcullis-key",
                        "description": "Portcullis API key",
                        "password": true,
                    }],
                    "servers": {*name: {
                        "type": "http",
                        "url": url,
                        "headers": {"Authorization": "Bearer ${input:portcullis-key}"},
                    }},
                }))
            ),
            Client::ClaudeDesktop => format!(
                "# Claude Desktop: claude_desktop_config.json (it starts `portcullis stdio`, which\n\
                 # serves this config to it over stdin/stdout with the same state)\n{}\n",
                pretty(&json!({"mcpServers": {*name: {
                    "command": self.exe,
                    "args": ["stdio", "--config", self.config],
                    "env": {KEY_VARIABLE: self.token.unwrap_or("<a key from `portcullis keys create`>")},
                }}}))
            ),
            Client::Codex => {
                let mut text = "# Codex: ~/.codex/config.toml\n".to_string();
                if let Some(token) = self.token {
                    text.push_str(&format!(
                        "# and in its environment: export {KEY_VARIABLE}={token}\n"
                    ));
                }
                text.push_str(&format!(
                    "[mcp_servers.{name}]\nurl = \"{url}\"\nbearer_token_env_var = \"{KEY_VARIABLE}\"\n"
                ));
                text
            }
            Client::All => String::new(),
        }
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// `text` as one word for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

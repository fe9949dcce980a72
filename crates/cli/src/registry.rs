//! `portcullis upstreams …` and `portcullis groups …`: the registry of upstreams and groups,
//! kept in the config file itself.
//!
//! The file stays the one source of truth: what `check` validates, what is reviewed and kept
//! in version control, what `serve` reads at start. A change is made to the file's text with
//! `toml_edit`, so its comments and layout stay; the new text must pass the checks a start
//! makes (else the file is left as it was, and the command says why); it replaces the file
//! atomically, under a lock, and is audited. A running gateway reads the file again within two
//! seconds and swaps the new config in (see `serve::watch_config`).

use std::fs::File;

use portcullis::core::audit::{AuditRecord, Decision, Outcome};
use serde_json::Value;
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, value};

use super::*;

#[derive(Subcommand)]
pub(crate) enum UpstreamsCommand {
    /// Add an upstream: a stdio server (`--command CMD [ARGS…]`; put the server's own flags
    /// after `--`) or a Streamable HTTP one (`--url URL`). Nothing it lists is published unless
    /// `--expose` names it (deny by default).
    Add {
        /// Its name: the prefix of its published tool names (`NAME_tool`).
        name: String,
        /// The program of a stdio server (`$PORTCULLIS` is this binary).
        #[arg(
            long,
            value_name = "CMD",
            conflicts_with = "url",
            required_unless_present = "url"
        )]
        command: Option<String>,
        /// The program's arguments.
        #[arg(
            value_name = "ARGS",
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        args: Vec<String>,
        /// The endpoint of a Streamable HTTP server.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// A header the gateway sends upstream, from its own environment or a file:
        /// `K=ENV:VAR` or `K=FILE:PATH` (never a literal secret on the command line).
        #[arg(long = "header", value_name = "K=ENV:VAR")]
        headers: Vec<String>,
        /// The server needs a user's OAuth login (`portcullis login NAME` after adding it).
        #[arg(long, requires = "url")]
        login: bool,
        /// A variable of the gateway's environment passed to the stdio server (which otherwise
        /// starts with an empty environment).
        #[arg(long = "inherit-env", value_name = "VAR")]
        inherit_env: Vec<String>,
        /// Publish the tools matching this name or glob (repeat for more).
        #[arg(long = "expose", value_name = "GLOB")]
        expose: Vec<String>,
        /// The exposed tools only read.
        #[arg(long, conflicts_with = "destructive")]
        read_only: bool,
        /// The exposed tools may change things, and are published as such on purpose.
        #[arg(long)]
        destructive: bool,
        /// Scopes a caller needs for the exposed tools, comma-separated.
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        #[command(flatten)]
        file: ConfigFile,
    },
    /// List the upstreams: kind, whether enabled, what is exposed.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        file: ConfigFile,
    },
    /// Show one upstream's section and the `[[expose]]` entries naming it.
    Show {
        name: String,
        #[command(flatten)]
        file: ConfigFile,
    },
    /// Remove an upstream with the `[[expose]]`, `[[resources]]` and `[[prompts]]` entries that
    /// name it. Calls in flight on a running gateway finish first.
    Remove {
        name: String,
        #[command(flatten)]
        file: ConfigFile,
    },
    /// Start an upstream that was disabled.
    Enable {
        name: String,
        #[command(flatten)]
        file: ConfigFile,
    },
    /// Keep an upstream configured but stop it: its tools are no longer published.
    Disable {
        name: String,
        #[command(flatten)]
        file: ConfigFile,
    },
    /// Connect to an upstream and list its tools, each with what would be published.
    Test {
        name: String,
        #[command(flatten)]
        file: ConfigFile,
    },
}

#[derive(Subcommand)]
pub(crate) enum GroupsCommand {
    /// Create a group: an endpoint (`/mcp/g/NAME`) offering only the published tools it names.
    Create {
        name: String,
        /// Published tool names or globs the group offers (repeat for more).
        #[arg(long = "tools", value_name = "GLOB", required = true)]
        tools: Vec<String>,
        /// Published tool names or globs it never offers.
        #[arg(long = "deny", value_name = "GLOB")]
        deny: Vec<String>,
        #[command(flatten)]
        file: ConfigFile,
    },
    /// List the groups and what they offer.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        file: ConfigFile,
    },
    /// Show a group's members; with --add or --remove, change them.
    Members {
        name: String,
        /// Add this name or glob.
        #[arg(long, value_name = "GLOB")]
        add: Vec<String>,
        /// Remove this name or glob.
        #[arg(long, value_name = "GLOB")]
        remove: Vec<String>,
        #[command(flatten)]
        file: ConfigFile,
    },
    /// Remove a group (its endpoint stops answering).
    Remove {
        name: String,
        #[command(flatten)]
        file: ConfigFile,
    },
}

#[derive(Args)]
pub(crate) struct ConfigFile {
    /// The configuration file (TOML) to read and change.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

pub(crate) fn upstreams(
    command: UpstreamsCommand,
    data_dir: Option<&Path>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    match command {
        UpstreamsCommand::Add {
            name,
            command,
            args,
            url,
            headers,
            login,
            inherit_env,
            expose,
            read_only,
            destructive,
            scopes,
            file,
        } => {
            let added = NewUpstream {
                name: &name,
                command,
                args,
                url,
                login,
                headers: &headers,
                inherit_env,
                expose,
                read_only,
                destructive,
                scopes,
            };
            let done = change(&file, data_dir, runtime, "upstreams/add", &name, |doc| {
                added.apply(doc)
            })?;
            println!("added upstream `{name}` to {}", file.config.display());
            if login {
                println!(
                    "log in to it with `portcullis login {name} --config {}`",
                    file.config.display()
                );
            }
            if done.is_empty() {
                println!(
                    "nothing of it is published yet: add --expose GLOB (deny by default); \
                     `portcullis upstreams test {name} --config {}` lists its tools",
                    file.config.display()
                );
            }
            tell_running();
            Ok(ExitCode::SUCCESS)
        }
        UpstreamsCommand::List { json, file } => {
            let doc = read(&file.config)?.1;
            let listed: Vec<Value> = upstream_names(&doc)
                .into_iter()
                .map(|name| upstream_summary(&doc, &name))
                .collect();
            print_listing(listed, json, "no upstreams", |u| {
                format!(
                    "{:<20} {:<8} {:<9} exposed: {}",
                    u["name"].as_str().unwrap_or_default(),
                    u["kind"].as_str().unwrap_or_default(),
                    if u["enabled"] == true {
                        "enabled"
                    } else {
                        "disabled"
                    },
                    join_strings(&u["exposed"], "(nothing)")
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        UpstreamsCommand::Show { name, file } => {
            let (text, doc) = read(&file.config)?;
            let config = Config::from_toml(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.config.display()))?;
            upstream_table(&doc, &name)?;
            // The section as the admin API shows it: literal secrets masked.
            let masked = portcullis::operate::masked_config(&text).map_err(anyhow::Error::msg)?;
            let section = &masked["upstreams"][&name];
            println!("[upstreams.{name}]");
            println!("{}", serde_json::to_string_pretty(section)?);
            let exposed: Vec<_> = config
                .exposure
                .rules()
                .iter()
                .filter(|r| r.upstream == name)
                .collect();
            if exposed.is_empty() {
                println!("exposed: nothing (deny by default)");
            }
            for rule in exposed {
                let patterns: Vec<&str> = rule.patterns.iter().map(|p| p.as_str()).collect();
                println!(
                    "exposed: {} ({}; scopes: {})",
                    patterns.join(", "),
                    if rule.read_only {
                        "read-only"
                    } else {
                        "destructive"
                    },
                    if rule.scopes.is_empty() {
                        "none".to_string()
                    } else {
                        rule.scopes.iter().cloned().collect::<Vec<_>>().join(",")
                    }
                );
            }
            if config.disabled.contains(&name) {
                println!("disabled: `portcullis upstreams enable {name}` starts it");
            }
            Ok(ExitCode::SUCCESS)
        }
        UpstreamsCommand::Remove { name, file } => {
            change(&file, data_dir, runtime, "upstreams/remove", &name, |doc| {
                upstream_table(doc, &name)?;
                if let Some(all) = doc.get_mut("upstreams").and_then(Item::as_table_like_mut) {
                    all.remove(&name);
                }
                for list in ["expose", "resources", "prompts"] {
                    if let Some(entries) = doc.get_mut(list).and_then(Item::as_array_of_tables_mut)
                    {
                        entries.retain(|t| t.get("upstream").and_then(Item::as_str) != Some(&name));
                    }
                }
                Ok(())
            })?;
            println!("removed upstream `{name}`");
            tell_running();
            Ok(ExitCode::SUCCESS)
        }
        UpstreamsCommand::Enable { name, file } => {
            set_enabled(&file, data_dir, runtime, &name, true)
        }
        UpstreamsCommand::Disable { name, file } => {
            set_enabled(&file, data_dir, runtime, &name, false)
        }
        UpstreamsCommand::Test { name, file } => {
            let config = load_config(&file.config)?;
            runtime.block_on(test_upstream(&config, &file.config, &name))
        }
    }
}

fn set_enabled(
    file: &ConfigFile,
    data_dir: Option<&Path>,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    enable: bool,
) -> anyhow::Result<ExitCode> {
    let method = if enable {
        "upstreams/enable"
    } else {
        "upstreams/disable"
    };
    change(file, data_dir, runtime, method, name, |doc| {
        let table = upstream_table_mut(doc, name)?;
        if enable {
            table.remove("enabled");
        } else {
            table.insert("enabled", value(false));
        }
        Ok(())
    })?;
    println!(
        "{} upstream `{name}`",
        if enable { "enabled" } else { "disabled" }
    );
    tell_running();
    Ok(ExitCode::SUCCESS)
}

/// What `upstreams add` writes.
struct NewUpstream<'a> {
    name: &'a str,
    command: Option<String>,
    args: Vec<String>,
    url: Option<String>,
    login: bool,
    headers: &'a [String],
    inherit_env: Vec<String>,
    expose: Vec<String>,
    read_only: bool,
    destructive: bool,
    scopes: Vec<String>,
}

impl NewUpstream<'_> {
    /// Adds the upstream's section (and its `[[expose]]` entry); returns the patterns exposed.
    fn apply(&self, doc: &mut DocumentMut) -> anyhow::Result<Vec<String>> {
        let name = self.name;
        if upstream_names(doc).iter().any(|n| n == name) {
            bail!(
                "upstreams.{name}: an upstream of that name exists; remove it first \
                 (`portcullis upstreams remove {name}`) or choose another name"
            );
        }
        if !self.expose.is_empty() && self.read_only == self.destructive {
            bail!(
                "--expose: say what the tools do: --read-only if they only read, or \
                 --destructive to expose them as destructive on purpose"
            );
        }
        let mut table = Table::new();
        table.decor_mut().set_prefix(format!(
            "\n# Added by `portcullis upstreams add` on {}.\n",
            rfc3339(now_secs() * 1000)
        ));
        match (&self.command, &self.url) {
            (Some(command), _) => {
                table.insert("kind", value("stdio"));
                table.insert("command", value(command.as_str()));
                if !self.args.is_empty() {
                    table.insert("args", value(strings(&self.args)));
                }
                if !self.inherit_env.is_empty() {
                    table.insert("inherit_env", value(strings(&self.inherit_env)));
                }
            }
            (None, Some(url)) => {
                if !self.args.is_empty() || !self.inherit_env.is_empty() {
                    bail!(
                        "ARGS and --inherit-env are for a stdio server (--command); this one has --url"
                    );
                }
                table.insert("kind", value("http"));
                table.insert("url", value(url.as_str()));
                if self.login {
                    table.insert("login", value(InlineTable::new()));
                }
            }
            (None, None) => bail!("say how to reach it: --command CMD [ARGS…] or --url URL"),
        }
        if !self.headers.is_empty() {
            let mut headers = InlineTable::new();
            for header in self.headers {
                let (key, source) = header_source(header)?;
                headers.insert(key, source.into());
            }
            table.insert("headers", value(headers));
        }
        let upstreams = doc
            .entry("upstreams")
            .or_insert_with(|| {
                let mut t = Table::new();
                t.set_implicit(true);
                Item::Table(t)
            })
            .as_table_mut()
            .context("`upstreams` in the config is not a table")?;
        upstreams.insert(name, Item::Table(table));
        if self.expose.is_empty() {
            return Ok(Vec::new());
        }
        let mut rule = Table::new();
        rule.insert("upstream", value(name));
        rule.insert("tools", value(strings(&self.expose)));
        if self.read_only {
            rule.insert("read_only", value(true));
        } else {
            rule.insert("destructive", value(true));
        }
        if !self.scopes.is_empty() {
            rule.insert("scopes", value(strings(&self.scopes)));
        }
        doc.entry("expose")
            .or_insert_with(|| Item::ArrayOfTables(Default::default()))
            .as_array_of_tables_mut()
            .context("`expose` in the config is not a list of tables")?
            .push(rule);
        Ok(self.expose.clone())
    }
}

/// `K=ENV:VAR` or `K=FILE:PATH` as the header's key and its `{ env = … }` / `{ file = … }`.
fn header_source(header: &str) -> anyhow::Result<(&str, InlineTable)> {
    let bad = || {
        anyhow::anyhow!(
            "--header `{header}`: write K=ENV:VAR (the value of the gateway's variable VAR) or              K=FILE:PATH (a file's contents); a secret never goes on the command line"
        )
    };
    let (key, source) = header.split_once('=').ok_or_else(bad)?;
    let (kind, from) = source.split_once(':').ok_or_else(bad)?;
    let kind = match kind {
        "ENV" | "env" => "env",
        "FILE" | "file" => "file",
        _ => return Err(bad()),
    };
    if key.trim().is_empty() || from.is_empty() {
        return Err(bad());
    }
    let mut table = InlineTable::new();
    table.insert(kind, from.into());
    Ok((key.trim(), table))
}

fn strings(items: &[String]) -> Array {
    items.iter().map(String::as_str).collect()
}

/// Reads the file, applies `edit`, checks the result as a start would, and writes it in the
/// file's place (under a lock beside it, so that two changes do not lose one another);
/// audits the change, or its refusal. Returns what `edit` returned.
fn change<T>(
    file: &ConfigFile,
    data_dir: Option<&Path>,
    runtime: &tokio::runtime::Runtime,
    method: &str,
    name: &str,
    edit: impl FnOnce(&mut DocumentMut) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let path = &file.config;
    let dir = open_data_dir(data_dir, Some(path))?;
    let lock_path = path.with_extension("toml.lock");
    let lock = File::create(&lock_path)
        .with_context(|| format!("cannot create the lock file `{}`", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock `{}`", lock_path.display()))?;
    let result = (|| {
        let (_, mut doc) = read(path)?;
        let done = edit(&mut doc)?;
        let text = doc.to_string();
        // Registry changes never touch `[auth]`: what it says is for `check` and `serve`.
        runtime.block_on(serve::validated(&text, path, true))?;
        write_atomically(path, &text)?;
        Ok(done)
    })();
    let outcome = result
        .as_ref()
        .map(|_| ())
        .map_err(|e: &anyhow::Error| format!("{e:#}"));
    with_audit(&dir, runtime, |recorder| {
        let (decision, outcome, reason) = match outcome {
            Ok(()) => (
                Decision::Allowed,
                Outcome::Ok,
                format!("{method} `{name}` in {}", path.display()),
            ),
            Err(why) => (
                Decision::Denied,
                Outcome::Refused,
                format!("{method} `{name}` refused, the file is unchanged: {why}"),
            ),
        };
        recorder.event(
            "cli",
            AuditRecord {
                principal: operator(None),
                principal_kind: "operator",
                method: format!("registry/{method}"),
                upstream: method.starts_with("upstreams").then(|| name.to_string()),
                decision,
                outcome,
                reason,
                ..AuditRecord::default()
            },
        );
        Ok(())
    })?;
    drop(lock);
    result.map_err(|e| e.context("the change was refused; the config file is unchanged"))
}

/// The file's text and its editable form.
fn read(path: &Path) -> anyhow::Result<(String, DocumentMut)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file `{}`", path.display()))?;
    let doc = text
        .parse::<DocumentMut>()
        .map_err(|e| anyhow::anyhow!("{}: not valid TOML: {e}", path.display()))?;
    Ok((text, doc))
}

/// Replaces `path` by `text` at once (a reader sees the old file or the new one), keeping
/// its permissions.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("toml.new");
    let permissions = std::fs::metadata(path)?.permissions();
    let mut out =
        File::create(&tmp).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    out.write_all(text.as_bytes())?;
    out.sync_all()?;
    std::fs::set_permissions(&tmp, permissions)?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace `{}`", path.display()))?;
    Ok(())
}

fn tell_running() {
    eprintln!(
        "a gateway serving this file applies the change within two seconds, without a restart"
    );
}

fn upstream_names(doc: &DocumentMut) -> Vec<String> {
    doc.get("upstreams")
        .and_then(Item::as_table_like)
        .map(|t| t.iter().map(|(k, _)| k.to_string()).collect())
        .unwrap_or_default()
}

fn no_upstream(name: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "upstreams.{name}: no upstream of that name; `portcullis upstreams list` names them"
    )
}

fn upstream_table<'a>(
    doc: &'a DocumentMut,
    name: &str,
) -> anyhow::Result<&'a dyn toml_edit::TableLike> {
    doc.get("upstreams")
        .and_then(|u| u.get(name))
        .and_then(Item::as_table_like)
        .ok_or_else(|| no_upstream(name))
}

fn upstream_table_mut<'a>(
    doc: &'a mut DocumentMut,
    name: &str,
) -> anyhow::Result<&'a mut dyn toml_edit::TableLike> {
    doc.get_mut("upstreams")
        .and_then(|u| u.get_mut(name))
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| no_upstream(name))
}

/// One line of `upstreams list`: its kind, whether enabled, the patterns exposed.
fn upstream_summary(doc: &DocumentMut, name: &str) -> Value {
    let table = upstream_table(doc, name).ok();
    let field = |key: &str| table.and_then(|t| t.get(key));
    let exposed: Vec<String> = doc
        .get("expose")
        .and_then(Item::as_array_of_tables)
        .into_iter()
        .flat_map(|all| all.iter())
        .filter(|t| t.get("upstream").and_then(Item::as_str) == Some(name))
        .flat_map(|t| {
            t.get("tools")
                .and_then(Item::as_array)
                .into_iter()
                .flat_map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)))
                .collect::<Vec<_>>()
        })
        .collect();
    serde_json::json!({
        "name": name,
        "kind": field("kind").and_then(Item::as_str).unwrap_or("?"),
        "enabled": field("enabled").and_then(Item::as_bool).unwrap_or(true),
        "exposed": exposed,
    })
}

/// `listed` as one JSON array, or a line each (`empty` when there are none).
fn print_listing(listed: Vec<Value>, json: bool, empty: &str, line: impl Fn(&Value) -> String) {
    if json {
        println!("{}", Value::Array(listed));
    } else if listed.is_empty() {
        println!("{empty}");
    } else {
        for item in &listed {
            println!("{}", line(item));
        }
    }
}

fn join_strings(list: &Value, empty: &str) -> String {
    let items: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if items.is_empty() {
        empty.to_string()
    } else {
        items.join(", ")
    }
}

/// Starts the upstream alone (enabled, whatever the file says), lists its tools, and prints
/// each with what the config would publish.
async fn test_upstream(config: &Config, path: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let text = config.source.text();
    let mut doc: DocumentMut = text.parse()?;
    upstream_table_mut(&mut doc, name)?.remove("enabled");
    // Only this upstream runs: the others are disabled for the test.
    for other in upstream_names(&doc).into_iter().filter(|n| n != name) {
        upstream_table_mut(&mut doc, &other)?.insert("enabled", value(false));
    }
    let alone = serve::validated(&doc.to_string(), path, true).await?;
    let gateway = start_unserved(&alone, &base_dir(path)).await;
    let health = gateway.upstream_health();
    let listings = gateway.listings();
    let published = gateway.published_tools();
    gateway.shutdown().await;
    let Some(listing) = listings.iter().find(|l| l.upstream == name) else {
        let why = health
            .iter()
            .find(|h| h.name == name)
            .and_then(|h| h.last_error.clone())
            .unwrap_or_else(|| "it did not answer within 10 s".into());
        eprintln!("upstream `{name}`: cannot list its tools: {why}");
        return Ok(ExitCode::FAILURE);
    };
    println!(
        "upstream `{name}`: connected, {} tools listed",
        listing.tools.len()
    );
    for tool in &listing.tools {
        let original = tool.get("name").and_then(Value::as_str).unwrap_or("?");
        let shown = published
            .iter()
            .find(|p| p.upstream == name && p.upstream_tool == original);
        match shown {
            Some(p) => println!(
                "  {original:<28} published as {} ({}; scopes: {})",
                p.name,
                if p.read_only {
                    "read-only"
                } else {
                    "destructive"
                },
                if p.scopes.is_empty() {
                    "none".to_string()
                } else {
                    p.scopes.iter().cloned().collect::<Vec<_>>().join(",")
                }
            ),
            None => println!("  {original:<28} not published"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn groups(
    command: GroupsCommand,
    data_dir: Option<&Path>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    match command {
        GroupsCommand::Create {
            name,
            tools,
            deny,
            file,
        } => {
            change(&file, data_dir, runtime, "groups/create", &name, |doc| {
                let groups = doc
                    .entry("groups")
                    .or_insert_with(|| {
                        let mut t = Table::new();
                        t.set_implicit(true);
                        Item::Table(t)
                    })
                    .as_table_mut()
                    .context("`groups` in the config is not a table")?;
                if groups.contains_key(&name) {
                    bail!(
                        "groups.{name}: a group of that name exists; change it with `groups members`"
                    );
                }
                let mut group = Table::new();
                group.insert("tools", value(strings(&tools)));
                if !deny.is_empty() {
                    group.insert("deny", value(strings(&deny)));
                }
                groups.insert(&name, Item::Table(group));
                Ok(())
            })?;
            println!("created group `{name}`: its endpoint is /mcp/g/{name}");
            tell_running();
            Ok(ExitCode::SUCCESS)
        }
        GroupsCommand::List { json, file } => {
            let config = load_config(&file.config)?;
            let listed: Vec<Value> = config
                .access
                .groups()
                .map(|(name, group)| {
                    serde_json::json!({
                        "name": name,
                        "tools": group.allow.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                        "deny": group.deny.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            print_listing(listed, json, "no groups", |g| {
                format!(
                    "{:<20} tools: {}  deny: {}",
                    g["name"].as_str().unwrap_or_default(),
                    join_strings(&g["tools"], "-"),
                    join_strings(&g["deny"], "-")
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        GroupsCommand::Members {
            name,
            add,
            remove,
            file,
        } => {
            if !add.is_empty() || !remove.is_empty() {
                change(&file, data_dir, runtime, "groups/members", &name, |doc| {
                    let tools = doc
                        .get_mut("groups")
                        .and_then(|g| g.get_mut(&name))
                        .and_then(|g| g.get_mut("tools"))
                        .and_then(Item::as_array_mut)
                        .ok_or_else(|| no_group(&name))?;
                    tools.retain(|v| !v.as_str().is_some_and(|s| remove.iter().any(|r| r == s)));
                    for pattern in &add {
                        if !tools.iter().any(|v| v.as_str() == Some(pattern)) {
                            tools.push(pattern.as_str());
                        }
                    }
                    Ok(())
                })?;
                tell_running();
            }
            let config = load_config(&file.config)?;
            let (_, group) = config
                .access
                .groups()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| no_group(&name))?;
            for pattern in &group.allow {
                println!("{}", pattern.as_str());
            }
            Ok(ExitCode::SUCCESS)
        }
        GroupsCommand::Remove { name, file } => {
            change(&file, data_dir, runtime, "groups/remove", &name, |doc| {
                doc.get_mut("groups")
                    .and_then(Item::as_table_like_mut)
                    .and_then(|g| g.remove(&name))
                    .ok_or_else(|| no_group(&name))?;
                Ok(())
            })?;
            println!("removed group `{name}`");
            tell_running();
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn no_group(name: &str) -> anyhow::Error {
    anyhow::anyhow!("groups.{name}: no group of that name; `portcullis groups list` names them")
}

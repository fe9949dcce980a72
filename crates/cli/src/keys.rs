//! `portcullis keys create|list|inspect|rotate|revoke`: API keys in the data directory.

use portcullis::operate::key_json;

use super::*;

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Issue a key; prints its token once (line `token:`) and its id (line `id:`).
    Create {
        /// A name for the key's holder.
        #[arg(long)]
        name: String,
        /// Scopes, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "")]
        scopes: Vec<String>,
        /// Lifetime, like `30d` or `12h`; default: no expiry.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// List keys (never their tokens).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Show one key.
    Inspect {
        id: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Replace a key: the new one keeps its scopes and expiry; the old token works for the grace
    /// period, then stops.
    Rotate {
        id: String,
        /// How long the old token keeps working, like `24h`; default: stops at once.
        #[arg(long, value_name = "DURATION", default_value = "0s")]
        grace: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Revoke a key, at once, in running gateways too.
    Revoke {
        id: String,
        #[command(flatten)]
        state: StateArgs,
    },
}

pub(crate) fn print_key(info: &KeyInfo, now: u64) {
    let json = key_json(info, now);
    let field = |k: &str| match &json[k] {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    println!("id: {}", info.id);
    println!("name: {}", info.name);
    println!("scopes: {}", info.scopes.join(","));
    for k in [
        "state",
        "created_at",
        "expires_at",
        "revoked_at",
        "valid_until",
        "replaced_by",
    ] {
        println!("{k}: {}", field(k));
    }
}

pub(crate) fn duration_arg(flag: &str, text: &str) -> anyhow::Result<u64> {
    parse_duration(text)
        .map(|d| d.as_secs())
        .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

pub(crate) fn keys(command: KeysCommand, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let state = match &command {
        KeysCommand::Create { state, .. }
        | KeysCommand::List { state, .. }
        | KeysCommand::Inspect { state, .. }
        | KeysCommand::Rotate { state, .. }
        | KeysCommand::Revoke { state, .. } => state,
    };
    let dir = open_data_dir(data_dir, state.config.as_deref())?;
    let config_file = state.config.clone();
    let store = KeyStore::open(&dir.database())?;
    let now = now_secs();
    match command {
        KeysCommand::Create {
            name,
            scopes,
            expires,
            json,
            ..
        } => {
            let scopes: Vec<String> = scopes
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if let Some(file) = &config_file {
                portcullis::operate::check_new_scopes(&scopes, &load_config(file)?.scopes())
                    .map_err(|e| anyhow::anyhow!("--scopes: {e} (`{}`)", file.display()))?;
            }
            let expires_at = match expires {
                Some(e) => match duration_arg("--expires", &e)? {
                    0 => bail!(
                        "--expires: `{e}` is under a second; the key would be expired when issued"
                    ),
                    d => Some(now.saturating_add(d)),
                },
                None => None,
            };
            let issued = store.create(&name, &scopes, expires_at, now)?;
            print_issued(&issued, now, json);
        }
        KeysCommand::List { json, .. } => {
            let keys = store.list()?;
            if json {
                let all: Vec<_> = keys.iter().map(|k| key_json(k, now)).collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for k in keys {
                    println!(
                        "{}\t{}\t{}\t{}",
                        k.id,
                        k.state(now),
                        k.name,
                        k.scopes.join(",")
                    );
                }
            }
        }
        KeysCommand::Inspect { id, json, .. } => {
            let info = store.get(&id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&key_json(&info, now))?);
            } else {
                print_key(&info, now);
            }
        }
        KeysCommand::Rotate {
            id, grace, json, ..
        } => {
            let grace = duration_arg("--grace", &grace)?;
            let issued = store.rotate(&id, grace, now)?;
            if !json {
                println!(
                    "replaces: {id} (its token works until {})",
                    rfc3339((now + grace) * 1000)
                );
            }
            print_issued(&issued, now, json);
        }
        KeysCommand::Revoke { id, .. } => {
            let info = store.revoke(&id, now)?;
            println!("revoked: {}", info.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn print_issued(issued: &portcullis::store::IssuedKey, now: u64, json: bool) {
    if json {
        let mut v = key_json(&issued.info, now);
        v["token"] = serde_json::Value::String(issued.token.clone());
        println!("{v}");
    } else {
        println!("token: {}", issued.token);
        print_key(&issued.info, now);
        eprintln!("(the token is shown this once; only its hash is stored)");
    }
}

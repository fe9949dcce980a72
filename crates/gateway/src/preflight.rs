//! What is verified before the gateway serves a config — by `portcullis check`, and by every
//! `serve` and `stdio` before it starts: what the config names must exist. A problem stops the
//! start (the secrets an upstream needs, the command a stdio upstream runs, the OpenAPI
//! documents and what they would expose); a warning names what is probably a mistake.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use portcullis_core::config::ClientCredentials;
use portcullis_core::lint::{LintFinding, LintInput, lint};
use portcullis_core::poisoning::PoisonScan;
use portcullis_core::{Config, SecretSource, UpstreamListing, UpstreamTransport};

use crate::openapi::EmbeddedApp;
use crate::secrets::resolve_secret;
use crate::upstream::SELF_COMMAND;

/// What the checks found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Each stops the start.
    pub problems: Vec<String>,
    /// Each is probably a mistake.
    pub warnings: Vec<String>,
    /// What the OpenAPI documents offer (MCP upstreams are listed only once started).
    pub listings: Vec<UpstreamListing>,
    /// The pre-flight audit of what those listings would publish.
    pub lint: Vec<LintFinding>,
}

impl Findings {
    /// What stops a start: the problems, and the lint findings that block (critical, not
    /// acknowledged).
    pub fn stopping(&self) -> Vec<String> {
        let blocking = self
            .lint
            .iter()
            .filter(|f| f.blocks())
            .map(blocking_problem);
        self.problems.iter().cloned().chain(blocking).collect()
    }
}

/// Checks `config`, whose relative paths are taken from `base_dir`.
pub async fn preflight(
    config: &Config,
    base_dir: &Path,
    apps: &HashMap<String, EmbeddedApp>,
) -> Findings {
    let mut found = Findings::default();
    for upstream in &config.upstreams {
        let at = format!("upstreams.{}", upstream.name);
        match &upstream.transport {
            UpstreamTransport::Stdio {
                command, env, cwd, ..
            } => {
                if command != SELF_COMMAND
                    && let Err(why) = find_program(command, env, cwd.as_deref(), base_dir)
                {
                    found.problems.push(format!("{at}.command: {why}"));
                }
            }
            UpstreamTransport::Http { headers, oauth, .. } => {
                secrets(&at, headers, oauth.as_ref(), base_dir, &mut found.problems)
            }
            UpstreamTransport::OpenApi(spec) => secrets(
                &at,
                &spec.headers,
                spec.oauth.as_ref(),
                base_dir,
                &mut found.problems,
            ),
        }
    }
    let (problems, warnings, listings) = crate::openapi::preflight(config, base_dir, apps).await;
    found.problems.extend(problems);
    found.warnings.extend(warnings);
    match audit(config, &listings) {
        Ok(lint) => found.lint = lint,
        Err(e) => found.problems.push(e),
    }
    found.listings = listings;
    for (i, j, pattern) in config.exposure.overlaps() {
        found.warnings.push(format!(
            "expose[{i}] and expose[{j}] both match `{pattern}` with different settings; the \
             strictest of each applies (read-only only if both say so, every scope of both, the \
             lower rate, the higher cost). Give each tool one entry"
        ));
    }
    found
}

/// The pre-flight audit of `listings` under `config`.
pub fn audit(config: &Config, listings: &[UpstreamListing]) -> Result<Vec<LintFinding>, String> {
    let scan = PoisonScan::new((*config.guardrail.engine).clone())?;
    Ok(lint(&LintInput::of(config, listings, &scan)))
}

/// How a blocking finding reads among the problems that stop a start.
pub fn blocking_problem(finding: &LintFinding) -> String {
    format!(
        "lint: {finding}. Fix: {}; or, if it is intended, acknowledge it in the config: \
         [[lint.acknowledge]] id = \"{}\" reason = \"…\"",
        finding.fix, finding.id
    )
}

/// Every secret an upstream's config names must be readable now.
fn secrets(
    at: &str,
    headers: &[(String, SecretSource)],
    oauth: Option<&ClientCredentials>,
    base_dir: &Path,
    problems: &mut Vec<String>,
) {
    for (name, source) in headers {
        if let Err(e) = resolve_secret(source, base_dir) {
            problems.push(format!("{at}.headers.{name}: {e}"));
        }
    }
    if let Some(oauth) = oauth
        && let Err(e) = resolve_secret(&oauth.client_secret, base_dir)
    {
        problems.push(format!("{at}.oauth.client_secret: {e}"));
    }
}

/// Where `command` would be found when the upstream is started: a path (relative to the
/// upstream's working directory), or a name on the `PATH` the config gives the child, else
/// the gateway's own.
fn find_program(
    command: &str,
    env: &[(String, String)],
    cwd: Option<&Path>,
    base_dir: &Path,
) -> Result<PathBuf, String> {
    if command.contains('/') {
        let path = base_dir.join(cwd.unwrap_or(Path::new(""))).join(command);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(format!(
                "`{}` does not exist or is not executable",
                path.display()
            ))
        };
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(command))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            format!(
                "`{command}` is not found on the PATH; install it, or give its full path in \
                 `command`"
            )
        })
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_secrets_and_commands_are_problems_naming_the_entry() {
        let config = Config::from_toml(
            r#"
[auth]
api_keys = true
[upstreams.gone]
kind = "stdio"
command = "portcullis-no-such-program"
[upstreams.api]
kind = "http"
url = "http://127.0.0.1:9/mcp"
headers.X-Api-Key = { env = "PORTCULLIS_TEST_UNSET_VARIABLE" }
headers.X-File = { file = "no-such-secret.txt" }
[[expose]]
upstream = "gone"
tools = ["a"]
read_only = true
[[expose]]
upstream = "gone"
tools = ["a*"]
read_only = true
scopes = ["s"]
"#,
        )
        .unwrap();
        let found = preflight(&config, Path::new("/nonexistent"), &HashMap::new()).await;
        let text = found.problems.join("\n");
        assert!(
            text.contains("upstreams.gone.command: `portcullis-no-such-program` is not found"),
            "{text}"
        );
        assert!(
            text.contains("upstreams.api.headers.X-Api-Key: environment variable `PORTCULLIS_TEST_UNSET_VARIABLE` is not set"),
            "{text}"
        );
        assert!(
            text.contains("upstreams.api.headers.X-File: cannot read"),
            "{text}"
        );
        assert_eq!(found.warnings.len(), 1, "{:?}", found.warnings);
        assert!(found.warnings[0].starts_with("expose[0] and expose[1] both match `a`"));
    }

    #[test]
    fn programs_are_found_on_the_path_the_child_gets() {
        let env = vec![("PATH".to_string(), "/bin:/usr/bin".to_string())];
        assert!(find_program("sh", &env, None, Path::new("/")).is_ok());
        let empty = vec![("PATH".to_string(), "/nonexistent".to_string())];
        assert!(find_program("sh", &empty, None, Path::new("/")).is_err());
        assert!(find_program("/bin/sh", &[], None, Path::new("/")).is_ok());
        assert!(find_program("./missing.sh", &[], None, Path::new("/tmp")).is_err());
    }
}

//! `portcullis doctor`: is this setup ready to serve? Each check says what it found and, for a
//! problem, how to fix it; the exit code is the worst severity (0 ok, 1 warning, 2 error).

use portcullis::store::{ApprovalFile, PinFile};
use serde_json::{Value, json};

use super::*;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    Ok,
    Warning,
    Error,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

struct Finding {
    check: String,
    severity: Severity,
    detail: String,
    fix: Option<String>,
}

#[derive(Default)]
struct Report(Vec<Finding>);

impl Report {
    fn ok(&mut self, check: impl Into<String>, detail: impl Into<String>) {
        self.add(check, Severity::Ok, detail, None::<String>);
    }

    fn problem(
        &mut self,
        check: impl Into<String>,
        severity: Severity,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.add(check, severity, detail, Some(fix));
    }

    fn add(
        &mut self,
        check: impl Into<String>,
        severity: Severity,
        detail: impl Into<String>,
        fix: Option<impl Into<String>>,
    ) {
        self.0.push(Finding {
            check: check.into(),
            severity,
            detail: detail.into(),
            fix: fix.map(Into::into),
        });
    }

    fn worst(&self) -> Severity {
        self.0
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok)
    }
}

pub(crate) fn doctor(
    path: &Path,
    data_dir: Option<&Path>,
    json_out: bool,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let mut report = Report::default();
    let config = check_config(&mut report, path, runtime);
    check_data_dir(&mut report, path, data_dir);
    check_clock(&mut report);
    match &config {
        Some(config) => {
            let dir = DataDir::choose(data_dir, path);
            check_listeners(&mut report, config, &dir);
            runtime.block_on(check_upstreams(&mut report, config, path, &dir));
            runtime.block_on(check_issuers(&mut report, config));
            check_logins(&mut report, config, &dir, path);
        }
        None => report.problem(
            "upstreams and listeners",
            Severity::Warning,
            "not checked: they need a valid config",
            "fix the config, then run doctor again",
        ),
    }
    if json_out {
        let findings: Vec<Value> = report
            .0
            .iter()
            .map(|f| {
                json!({"check": f.check, "severity": f.severity.as_str(), "detail": f.detail, "fix": f.fix})
            })
            .collect();
        println!(
            "{}",
            json!({"worst": report.worst().as_str(), "findings": findings})
        );
    } else {
        for f in &report.0 {
            println!("{:<7}  {}: {}", f.severity.as_str(), f.check, f.detail);
            if let Some(fix) = &f.fix {
                println!("         fix: {fix}");
            }
        }
        let problems = report
            .0
            .iter()
            .filter(|f| f.severity != Severity::Ok)
            .count();
        println!(
            "{}",
            match report.worst() {
                Severity::Ok => "all checks passed".to_string(),
                worst => format!(
                    "{problems} problem(s); the worst is a{} {}",
                    if worst == Severity::Error { "n" } else { "" },
                    worst.as_str()
                ),
            }
        );
    }
    Ok(ExitCode::from(report.worst() as u8))
}

/// The config parses and passes the checks a start makes.
fn check_config(
    report: &mut Report,
    path: &Path,
    runtime: &tokio::runtime::Runtime,
) -> Option<Config> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            report.problem(
                "config",
                Severity::Error,
                format!("cannot read {}: {e}", path.display()),
                "give the path of the config file (`portcullis init` writes one)",
            );
            return None;
        }
    };
    match runtime.block_on(serve::validated(&text, path, false)) {
        Ok(config) => {
            report.ok(
                "config",
                format!(
                    "{} is valid ({} upstreams)",
                    path.display(),
                    config.upstreams.len()
                ),
            );
            Some(config)
        }
        Err(e) => {
            report.problem(
                "config",
                Severity::Error,
                format!("{e:#}"),
                format!("correct each problem at the path named; `portcullis check --config {}` says the same", path.display()),
            );
            None
        }
    }
}

/// The data directory exists (or can be made), is private to its owner, and the state in it
/// opens: keys, pins, approvals, the audit log's chain.
fn check_data_dir(report: &mut Report, path: &Path, explicit: Option<&Path>) {
    let chosen = DataDir::choose(explicit, path);
    let shown = chosen.display().to_string();
    let dir = match DataDir::open(chosen) {
        Ok(dir) => dir,
        Err(e) => {
            report.problem(
                "data directory",
                Severity::Error,
                format!("{shown}: {e}"),
                "point --data-dir (or PORTCULLIS_DATA_DIR) at a directory this user can write",
            );
            return;
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(dir.path()) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => report.problem(
                "data directory",
                Severity::Warning,
                format!("{shown} is open to other users (mode {:o}); it holds key hashes, parked calls and the audit log", meta.permissions().mode() & 0o777),
                format!("chmod 700 {shown}"),
            ),
            Ok(_) => report.ok("data directory", format!("{shown}, private to its owner")),
            Err(e) => report.problem("data directory", Severity::Error, format!("{shown}: {e}"), "check the directory's permissions"),
        }
    }
    let probe = dir.path().join(".doctor-probe");
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) => report.problem(
            "data directory",
            Severity::Error,
            format!("{shown} is not writable: {e}"),
            "give this user write access, or choose another --data-dir",
        ),
    }
    let database = dir.database();
    let opened = KeyStore::open(&database)
        .and_then(|keys| keys.list().map(|k| k.len()))
        .and_then(|keys| PinFile::open(&database).map(|_| keys))
        .and_then(|keys| ApprovalFile::open(&database).map(|_| keys));
    match opened {
        Ok(keys) => report.ok("store", format!("{} opens ({keys} API keys)", database.display())),
        Err(e) => report.problem(
            "store",
            Severity::Error,
            format!("{}: {e}", database.display()),
            "restore the database from a backup, or move it aside to start afresh (keys and pins are lost)",
        ),
    }
    match portcullis::store::audit::verify_files(&dir.audit_log()) {
        Ok(Ok(check)) => report.ok(
            "audit log",
            format!("{} records in {} file(s), chain intact", check.records, check.files),
        ),
        Ok(Err(broken)) => report.problem(
            "audit log",
            Severity::Error,
            format!("the chain breaks at {} line {}: {}", broken.file.display(), broken.line, broken.reason),
            "keep the log as evidence and find out who changed it; `portcullis audit verify` shows the same",
        ),
        Err(e) => report.problem("audit log", Severity::Error, e.to_string(), "check the file's permissions"),
    }
}

/// The system clock is plausible: tokens, keys, approvals and the audit log rely on it.
fn check_clock(report: &mut Report) {
    // 2025-01-01 and 2100-01-01.
    let now = now_secs();
    if (1_735_689_600..4_102_444_800).contains(&now) {
        report.ok("clock", rfc3339(now * 1000));
    } else {
        report.problem(
            "clock",
            Severity::Error,
            format!("the system time is {}", rfc3339(now * 1000)),
            "set the clock (NTP): token expiry, key expiry and the audit log's times depend on it",
        );
    }
}

/// The listener addresses are free, or a gateway on this data directory holds them.
fn check_listeners(report: &mut Report, config: &Config, dir: &Path) {
    let serving: Option<Value> = std::fs::read_to_string(dir.join("endpoint.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let listeners = [
        ("gateway.listen", Some(config.gateway.listen.clone())),
        ("admin.listen", config.admin.listen.map(|a| a.to_string())),
    ];
    for (key, addr) in listeners {
        let Some(addr) = addr else { continue };
        match std::net::TcpListener::bind(&addr) {
            Ok(_) => report.ok(key, format!("{addr} is free")),
            Err(e) => {
                let ours = serving
                    .as_ref()
                    .and_then(|s| s["addr"].as_str())
                    .is_some_and(|a| a == addr);
                if ours || key == "admin.listen" && serving.is_some() {
                    report.ok(
                        key,
                        format!("{addr}: the gateway on this data directory is serving there"),
                    );
                } else {
                    report.problem(
                        key,
                        Severity::Error,
                        format!("cannot listen on {addr}: {e}"),
                        format!(
                            "stop what listens there, or change `{key}` (port 0 picks a free one)"
                        ),
                    );
                }
            }
        }
    }
}

/// Each upstream starts, initialises and lists its tools.
async fn check_upstreams(report: &mut Report, config: &Config, path: &Path, dir: &Path) {
    if config.upstreams.is_empty() {
        report.problem(
            "upstreams",
            Severity::Warning,
            "none is enabled, so nothing is published",
            "add one with `portcullis upstreams add`",
        );
        return;
    }
    let logins = DataDir::open(dir.to_path_buf())
        .ok()
        .and_then(|dir| portcullis::login::open_logins(config, &dir, &base_dir(path)).ok())
        .flatten()
        .map(|s| s as Arc<dyn portcullis::core::ports::LoginStore>);
    let gateway = spawn_unserved(config, &base_dir(path), logins);
    // Until each upstream has listed its tools or failed once (10 s at most).
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for _ in 0..100 {
        tick.tick().await;
        let listed: Vec<String> = gateway.listings().into_iter().map(|l| l.upstream).collect();
        let settled = gateway
            .upstream_health()
            .iter()
            .all(|h| h.failures > 0 || listed.contains(&h.name));
        if settled {
            break;
        }
    }
    let listed: Vec<String> = gateway.listings().into_iter().map(|l| l.upstream).collect();
    for health in gateway.upstream_health() {
        let check = format!("upstream {}", health.name);
        if listed.contains(&health.name) {
            let published = gateway
                .published_tools()
                .iter()
                .filter(|t| t.upstream == health.name)
                .count();
            report.ok(
                check,
                format!(
                    "{} upstream answered and listed its tools; {published} published",
                    health.kind
                ),
            );
        } else {
            report.problem(
                check,
                Severity::Error,
                health
                    .last_error
                    .unwrap_or_else(|| "did not answer within 10 s".into()),
                format!(
                    "check its command or URL and credentials; `portcullis upstreams test {} --config {}` shows what it lists",
                    health.name,
                    path.display()
                ),
            );
        }
    }
    match gateway.blocking_findings() {
        Ok(findings) if findings.is_empty() => {}
        Ok(findings) => report.problem(
            "pre-flight audit",
            Severity::Error,
            format!("{} critical finding(s) stop `serve`", findings.len()),
            format!(
                "`portcullis lint --live --config {}` lists them with their fixes",
                path.display()
            ),
        ),
        Err(e) => report.problem(
            "pre-flight audit",
            Severity::Error,
            e,
            "see `portcullis lint --live`",
        ),
    }
    gateway.shutdown().await;
}

/// Each upstream login is there and usable.
fn check_logins(report: &mut Report, config: &Config, dir: &Path, path: &Path) {
    let store = DataDir::open(dir.to_path_buf())
        .map_err(|e| e.to_string())
        .and_then(|d| portcullis::login::open_logins(config, &d, &base_dir(path)));
    let store = match store {
        Ok(store) => store,
        Err(e) => {
            report.problem(
                "tokens.key",
                Severity::Error,
                e,
                "name a key of 32 random bytes or more in [tokens] key",
            );
            return;
        }
    };
    for (upstream, status) in portcullis::login::statuses(config, store.as_deref()) {
        let check = format!("login {upstream}");
        match status {
            Ok(status) => report.ok(check, status),
            Err(problem) => report.problem(
                check,
                Severity::Error,
                problem,
                format!("portcullis login {upstream} --config {}", path.display()),
            ),
        }
    }
}

/// Each token issuer's JWKS can be fetched.
async fn check_issuers(report: &mut Report, config: &Config) {
    if config.auth.issuers.is_empty() {
        return;
    }
    let resource = config
        .auth
        .resource
        .clone()
        .unwrap_or_else(|| format!("http://{}/mcp", config.gateway.listen));
    let verifier = match TokenVerifier::new(resource, &config.auth.issuers) {
        Ok(v) => v,
        Err(e) => {
            report.problem(
                "auth.issuers",
                Severity::Error,
                e,
                "correct the issuer's settings",
            );
            return;
        }
    };
    for (issuer, fetched) in verifier.fetch_now().await {
        let check = format!("issuer {issuer}");
        match fetched {
            Ok(()) => report.ok(check, "JWKS fetched"),
            Err(e) => report.problem(
                check,
                Severity::Error,
                format!("cannot fetch its JWKS: {e}"),
                "check jwks_url and that this host can reach it; tokens from it are refused until then",
            ),
        }
    }
}

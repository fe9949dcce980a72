//! The configuration file: what an operator writes, and the validated form the gateway runs on.
//!
//! Loading happens in two stages. The TOML text is deserialized into the `Raw*` structs, with
//! every key that no struct knows collected (not skipped); then [`Config::from_raw`] checks the
//! whole thing and reports *every* problem at once, each with its path (`upstreams.demo.command`)
//! and what to do about it. Only a configuration with no problem becomes a [`Config`].
//!
//! Secure defaults live here, in code, and are documented per field: nothing is exposed unless an
//! `[[expose]]` entry names it, and an exposed tool is destructive unless declared read-only.
//!
//! This module never touches the file system: secrets named by path or environment variable are
//! carried as [`SecretSource`] and resolved by the gateway.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use ipnet::IpNet;

use crate::approval::{ApprovalMode, ApprovalSettings};
use crate::duration::parse_duration;
use crate::exposure::{ExposeRule, Exposure, ToolPattern};
use crate::guardrail::{Guardrail, Mode, ToolModes};
use crate::limits::Rate;
use crate::lint::LintSettings;
use crate::offers::{OfferRules, PromptRule, ResourceRule, UriPattern};
use crate::policy::{AccessRules, Group};
use crate::redact::{RedactionSettings, Redactor};
use crate::rules::{Effect, Rule, Rules};

mod admin;
mod audit;
mod auth;
mod content;
mod gateway;
mod limits;
mod telemetry;
mod upstreams;

pub use admin::*;
pub use audit::*;
pub use auth::*;
pub use content::*;
pub use gateway::*;
pub use limits::*;
pub use telemetry::*;
pub use upstreams::*;

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Where the problem is, as a dotted path (`upstreams.demo.command`, `expose[0].tools[1]`).
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a configuration file; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "the configuration has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    #[serde(default)]
    gateway: RawGateway,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    upstreams: BTreeMap<String, RawUpstream>,
    #[serde(default)]
    expose: Vec<RawExpose>,
    #[serde(default)]
    groups: BTreeMap<String, RawGroup>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    redaction: RawRedaction,
    #[serde(default)]
    guardrail: RawGuardrail,
    #[serde(default)]
    lint: RawLint,
    #[serde(default)]
    approvals: RawApprovals,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    resources: Vec<RawResources>,
    #[serde(default)]
    prompts: Vec<RawPrompts>,
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    telemetry: RawTelemetry,
    tokens: Option<RawTokens>,
}

#[derive(Debug, Deserialize)]
struct RawTokens {
    key: RawSecret,
}

#[derive(Debug, Deserialize)]
struct RawResources {
    upstream: String,
    uris: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RawPrompts {
    upstream: String,
    prompts: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RawRule {
    name: Option<String>,
    #[serde(default)]
    tools: Vec<String>,
    when: String,
    effect: String,
    approval: Option<String>,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Default, Deserialize)]
struct RawApprovals {
    timeout: Option<String>,
    webhook: Option<String>,
    webhook_arguments: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct RawLint {
    max_tools: Option<usize>,
    #[serde(default)]
    acknowledge: Vec<RawAcknowledge>,
}

#[derive(Debug, Deserialize)]
struct RawAcknowledge {
    id: String,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Deserialize)]
struct RawGroup {
    tools: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
    catalogue: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawExpose {
    upstream: String,
    tools: Vec<String>,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    destructive: bool,
    #[serde(default)]
    scopes: Vec<String>,
    rate: Option<String>,
    cost: Option<u32>,
    guardrail: Option<RawToolModes>,
    approval: Option<String>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub gateway: GatewaySettings,
    pub auth: AuthSettings,
    /// Upstreams in name order (the enabled ones).
    pub upstreams: Vec<UpstreamSpec>,
    /// Upstreams configured with `enabled = false`: not started, their tools not published.
    pub disabled: BTreeSet<String>,
    pub exposure: Exposure,
    /// Deny rules and groups, applied on top of exposure.
    pub access: AccessRules,
    pub limits: LimitSettings,
    /// The compiled `[redaction]` rules, applied to every result and error leaving the gateway.
    pub redaction: Arc<Redactor>,
    pub guardrail: GuardrailSettings,
    /// The pre-flight audit's settings and the findings the operator acknowledged.
    pub lint: LintSettings,
    /// How calls that need approval wait, and who is told.
    pub approvals: ApprovalSettings,
    /// `[[rules]]`: conditions over calls that deny them or make them wait for approval.
    pub rules: Rules,
    /// `[[resources]]` and `[[prompts]]`: what is published besides tools.
    pub offers: OfferRules,
    /// `[admin]`: the operator's listener, off by default.
    pub admin: AdminSettings,
    /// `[audit]`: rotation of the log and the sinks besides it.
    pub audit: AuditSettings,
    /// `[telemetry]`: OpenTelemetry export, off by default.
    pub telemetry: Option<Telemetry>,
    /// `[tokens] key`: the key that encrypts upstream login tokens at rest.
    pub tokens_key: Option<SecretSource>,
    /// The text this config was read from, and its sections as written.
    pub source: ConfigSource,
}

/// The text a [`Config`] was read from, parsed but not interpreted: a reload compares a
/// section as written with the running one's (an upstream whose section did not change keeps
/// its connection).
#[derive(Clone, Default)]
pub struct ConfigSource {
    text: String,
    table: toml::Table,
}

impl ConfigSource {
    /// The file as it was read.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The top-level section `key` (`auth`, `gateway`…) as written, if present.
    pub fn section(&self, key: &str) -> Option<&toml::Value> {
        self.table.get(key)
    }

    /// The section `[upstreams.NAME]` as written, if present.
    pub fn upstream(&self, name: &str) -> Option<&toml::Value> {
        self.table.get("upstreams")?.get(name)
    }
}

impl fmt::Debug for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The text may hold secret literals.
        write!(f, "ConfigSource({} bytes)", self.text.len())
    }
}

impl Config {
    /// Every scope the config asks of callers: for tools, resources and prompts.
    pub fn scopes(&self) -> std::collections::BTreeSet<String> {
        let mut scopes = self.exposure.scopes();
        let offers = &self.offers;
        for rule in &offers.resources {
            scopes.extend(rule.scopes.iter().cloned());
        }
        for rule in &offers.prompts {
            scopes.extend(rule.scopes.iter().cloned());
        }
        scopes
    }

    /// Parses and validates a configuration file's text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let mut unknown = Vec::new();
        let deserializer = toml::Deserializer::parse(text).map_err(|e| single("(file)", e))?;
        let raw: RawConfig = serde_ignored::deserialize(deserializer, |path| {
            unknown.push(problem_path(&path));
        })
        .map_err(|e| single("(file)", e))?;
        let mut problems: Vec<ConfigProblem> = unknown
            .into_iter()
            .map(|path| ConfigProblem {
                path,
                message: "unknown key; remove it or check its spelling".into(),
            })
            .collect();
        match Config::from_raw(raw, &mut problems) {
            Some(mut config) if problems.is_empty() => {
                // It parsed once already, so it parses again.
                let table = text.parse().unwrap_or_default();
                config.source = ConfigSource {
                    text: text.to_string(),
                    table,
                };
                Ok(config)
            }
            _ => Err(ConfigError { problems }),
        }
    }

    fn from_raw(raw: RawConfig, problems: &mut Vec<ConfigProblem>) -> Option<Config> {
        let mut p = Problems(problems);
        let gateway = gateway_settings(raw.gateway, &mut p);
        let auth = auth_settings(raw.auth, &mut p);
        // A disabled upstream is checked like the others (enabling it cannot fail later), and
        // entries naming it stay valid; it is left out of the config the gateway runs.
        let disabled: BTreeSet<String> = raw
            .upstreams
            .iter()
            .filter(|(_, up)| up.enabled == Some(false))
            .map(|(name, _)| name.clone())
            .collect();
        let mut upstreams: Vec<UpstreamSpec> = raw
            .upstreams
            .into_iter()
            .filter_map(|(name, up)| upstream_spec(name, up, &gateway.separator, &mut p))
            .collect();
        let mut rules = Vec::new();
        for (i, e) in raw.expose.into_iter().enumerate() {
            let path = format!("expose[{i}]");
            known_upstream(&upstreams, &e.upstream, &path, &mut p);
            if e.tools.is_empty() {
                p.add(
                    format!("{path}.tools"),
                    "empty list; name at least one tool (exact name or glob)",
                );
            }
            let patterns = patterns(&e.tools, &format!("{path}.tools"), &mut p);
            check_scopes(&e.scopes, &path, &mut p);
            match (e.read_only, e.destructive) {
                (true, true) => p.add(
                    path.clone(),
                    "`read_only` and `destructive` are both true; a tool is one or the other",
                ),
                (false, false) => p.add(
                    path.clone(),
                    "tools are treated as destructive unless declared read-only: set \
                     `read_only = true` if they only read, or `destructive = true` to expose \
                     them as destructive on purpose",
                ),
                _ => {}
            }
            let rate = e.rate.as_deref().and_then(|r| match Rate::parse(r) {
                Ok(rate) => Some(rate),
                Err(msg) => {
                    p.add(format!("{path}.rate"), msg);
                    None
                }
            });
            if e.cost == Some(0) {
                p.add(format!("{path}.cost"), "must be at least 1");
            }
            let guardrail = e.guardrail.map_or_else(ToolModes::default, |m| ToolModes {
                arguments: mode(m.arguments, &format!("{path}.guardrail.arguments"), &mut p),
                results: mode(m.results, &format!("{path}.guardrail.results"), &mut p),
            });
            let approval = e.approval.as_deref().and_then(|text| {
                ApprovalMode::parse(text)
                    .map_err(|msg| p.add(format!("{path}.approval"), msg))
                    .ok()
            });
            rules.push(ExposeRule {
                approval,
                upstream: e.upstream,
                patterns,
                read_only: e.read_only && !e.destructive,
                scopes: e.scopes.into_iter().collect(),
                rate,
                cost: e.cost.unwrap_or(1).max(1),
                guardrail,
            });
        }
        let mut groups = BTreeMap::new();
        for (name, g) in raw.groups {
            let path = format!("groups.{name}");
            if !is_valid_group_name(&name) {
                p.add(
                    path.clone(),
                    "group names are 1 to 32 ASCII letters, digits, `_` or `-` (they name a URL path)",
                );
            }
            if g.tools.is_empty() {
                p.add(
                    format!("{path}.tools"),
                    "empty list; name the published tools (exact names or globs) the group offers",
                );
            }
            let allow = patterns(&g.tools, &format!("{path}.tools"), &mut p);
            let deny = patterns(&g.deny, &format!("{path}.deny"), &mut p);
            let catalogue = CatalogueMode::parse(g.catalogue, &format!("{path}.catalogue"), &mut p);
            groups.insert(
                name,
                Group {
                    allow,
                    deny,
                    catalogue,
                },
            );
        }
        let access = AccessRules::new(
            upstreams
                .iter()
                .map(|u| (u.name.clone(), u.deny.clone()))
                .collect(),
            groups,
        );
        let limits = limit_settings(raw.limits, &mut p);
        let redaction = redaction(raw.redaction, &mut p)?;
        let guardrail = guardrail_settings(raw.guardrail, &mut p)?;
        let lint = lint_settings(raw.lint, &mut p);
        let approvals = approval_settings(raw.approvals, &mut p);
        let call_rules = call_rules(raw.rules, &mut p);
        let offers = offer_rules(raw.resources, raw.prompts, &upstreams, &mut p);
        let admin = admin_settings(raw.admin, &gateway, &mut p);
        let audit = audit_settings(raw.audit, &mut p);
        let telemetry = telemetry(raw.telemetry, &mut p);
        let tokens_key = raw.tokens.and_then(|t| secret(t.key, "tokens.key", &mut p));
        let logins: Vec<&str> = upstreams
            .iter()
            .filter(|u| matches!(&u.transport, UpstreamTransport::Http { login: Some(_), .. }))
            .map(|u| u.name.as_str())
            .collect();
        if let (Some(first), None) = (logins.first(), &tokens_key) {
            p.add(
                "tokens.key",
                format!(
                    "upstreams.{first}.login keeps OAuth tokens, encrypted at rest: name the key, \
                     [tokens] key = {{ env = \"PORTCULLIS_TOKEN_KEY\" }} (or {{ file = \"…\" }}), 32 \
                     random bytes or more, as from `openssl rand -hex 32`"
                ),
            );
        }
        upstreams.retain(|u| !disabled.contains(&u.name));
        Some(Config {
            tokens_key,
            disabled,
            admin,
            audit,
            telemetry,
            gateway,
            auth,
            upstreams,
            exposure: Exposure::new(rules),
            access,
            limits,
            redaction,
            guardrail,
            lint,
            approvals,
            rules: call_rules,
            offers,
            source: ConfigSource::default(),
        })
    }
}

fn known_upstream(upstreams: &[UpstreamSpec], name: &str, path: &str, p: &mut Problems<'_>) {
    match upstreams.iter().find(|u| u.name == name) {
        None => p.add(
            format!("{path}.upstream"),
            format!("no upstream named `{name}`; define [upstreams.{name}] or fix the name"),
        ),
        Some(u)
            if !path.starts_with("expose")
                && matches!(u.transport, UpstreamTransport::OpenApi(_)) =>
        {
            p.add(
                format!("{path}.upstream"),
                format!("`{name}` is an OpenAPI upstream; it offers tools only"),
            );
        }
        Some(_) => {}
    }
}

fn check_scopes(scopes: &[String], path: &str, p: &mut Problems<'_>) {
    for (j, scope) in scopes.iter().enumerate() {
        if !is_valid_scope(scope) {
            p.add(
                format!("{path}.scopes[{j}]"),
                format!(
                    "`{}` is not a scope; scopes are non-empty and printable, without spaces or quotes",
                    scope.escape_debug()
                ),
            );
        }
    }
}

/// `[[resources]]` and `[[prompts]]`.
fn offer_rules(
    resources: Vec<RawResources>,
    prompts: Vec<RawPrompts>,
    upstreams: &[UpstreamSpec],
    p: &mut Problems<'_>,
) -> OfferRules {
    let mut rules = OfferRules::default();
    for (i, r) in resources.into_iter().enumerate() {
        let path = format!("resources[{i}]");
        known_upstream(upstreams, &r.upstream, &path, p);
        if r.uris.is_empty() {
            p.add(
                format!("{path}.uris"),
                "empty list; name at least one resource URI or URI template (exact or glob)",
            );
        }
        let mut uris = Vec::new();
        for (j, text) in r.uris.iter().enumerate() {
            match UriPattern::parse(text) {
                Ok(pattern) => uris.push(pattern),
                Err(msg) => p.add(format!("{path}.uris[{j}]"), msg),
            }
        }
        check_scopes(&r.scopes, &path, p);
        rules.resources.push(ResourceRule {
            upstream: r.upstream,
            uris,
            scopes: r.scopes.into_iter().collect(),
        });
    }
    for (i, r) in prompts.into_iter().enumerate() {
        let path = format!("prompts[{i}]");
        known_upstream(upstreams, &r.upstream, &path, p);
        if r.prompts.is_empty() {
            p.add(
                format!("{path}.prompts"),
                "empty list; name at least one prompt (exact name or glob)",
            );
        }
        let names = patterns(&r.prompts, &format!("{path}.prompts"), p);
        check_scopes(&r.scopes, &path, p);
        rules.prompts.push(PromptRule {
            upstream: r.upstream,
            prompts: names,
            scopes: r.scopes.into_iter().collect(),
        });
    }
    rules
}

fn call_rules(raw: Vec<RawRule>, p: &mut Problems<'_>) -> Rules {
    let mut out = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let path = format!("rules[{i}]");
        let effect = match (r.effect.as_str(), r.approval.as_deref()) {
            ("deny", None) => Some(Effect::Deny),
            ("deny", Some(_)) => {
                p.add(
                    format!("{path}.approval"),
                    "only an `effect = \"approve\"` rule takes an approval mode",
                );
                None
            }
            ("approve", mode) => match ApprovalMode::parse(mode.unwrap_or("operator")) {
                Ok(ApprovalMode::None) => {
                    p.add(
                        format!("{path}.approval"),
                        "an approve rule needs \"operator\" or \"user\"; rules only narrow",
                    );
                    None
                }
                Ok(mode) => Some(Effect::Approve(mode)),
                Err(msg) => {
                    p.add(format!("{path}.approval"), msg);
                    None
                }
            },
            (other, _) => {
                p.add(
                    format!("{path}.effect"),
                    format!(
                        "`{}` is not an effect; use \"deny\" or \"approve\"",
                        other.escape_debug()
                    ),
                );
                None
            }
        };
        let tools = patterns(&r.tools, &format!("{path}.tools"), p);
        let name = r.name.unwrap_or_else(|| path.clone());
        let reason = if r.reason.trim().is_empty() {
            format!("rule `{name}`")
        } else {
            r.reason
        };
        match effect.map(|e| Rule::new(name, tools, &r.when, e, reason)) {
            Some(Ok(rule)) => out.push(rule),
            Some(Err(msg)) => p.add(format!("{path}.when"), msg),
            None => {}
        }
    }
    Rules(out)
}

fn approval_settings(raw: RawApprovals, p: &mut Problems<'_>) -> ApprovalSettings {
    let defaults = ApprovalSettings::default();
    if let Some(url) = &raw.webhook
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        p.add(
            "approvals.webhook",
            "give an http:// or https:// URL to POST parked calls to",
        );
    }
    ApprovalSettings {
        timeout: positive_duration(
            raw.timeout.as_deref(),
            "approvals.timeout",
            defaults.timeout,
            p,
        ),
        webhook: raw.webhook,
        webhook_arguments: raw.webhook_arguments.unwrap_or(false),
    }
}

fn lint_settings(raw: RawLint, p: &mut Problems<'_>) -> LintSettings {
    let mut settings = LintSettings::default();
    match raw.max_tools {
        Some(0) => p.add("lint.max_tools", "must be at least 1"),
        Some(n) => settings.max_tools = n,
        None => {}
    }
    for (i, ack) in raw.acknowledge.into_iter().enumerate() {
        let path = format!("lint.acknowledge[{i}]");
        let rule = ack.id.split(':').next().unwrap_or_default();
        if crate::lint::rule(rule).is_none() || !ack.id.contains(':') {
            p.add(
                format!("{path}.id"),
                format!(
                    "`{}` is not a finding id; copy the id `portcullis lint` prints \
                     (`rule:tool`, such as `auth-endpoint:shop_login`)",
                    ack.id.escape_debug()
                ),
            );
        }
        if ack.reason.trim().is_empty() {
            p.add(
                format!("{path}.reason"),
                "missing; say why the finding is accepted (it is shown with the finding)",
            );
        }
        if settings
            .acknowledged
            .insert(ack.id.clone(), ack.reason)
            .is_some()
        {
            p.add(format!("{path}.id"), "acknowledged twice; keep one entry");
        }
    }
    settings
}

/// A duration above zero at `path`, or `default` when absent (or wrong, with the problem noted).
/// A path in the style every other problem uses: `expose[0].read_onyl`, `upstreams.demo.x`.
fn problem_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", problem_path(parent)),
        Path::Map { parent, key } => match problem_path(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => problem_path(parent),
    }
}

fn positive_duration(
    text: Option<&str>,
    path: &str,
    default: Duration,
    p: &mut Problems<'_>,
) -> Duration {
    match text.map(parse_duration) {
        None => default,
        Some(Ok(d)) if !d.is_zero() => d,
        Some(Ok(_)) => {
            p.add(path, "must be longer than zero");
            default
        }
        Some(Err(msg)) => {
            p.add(path, msg);
            default
        }
    }
}

fn patterns(texts: &[String], path: &str, p: &mut Problems<'_>) -> Vec<ToolPattern> {
    let mut out = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        match ToolPattern::parse(t) {
            Ok(pat) => out.push(pat),
            Err(msg) => p.add(format!("{path}[{i}]"), msg),
        }
    }
    out
}

/// RFC 6749 `scope-token`: printable ASCII without space, `"` or `\`.
fn is_valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

fn is_valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn single(path: &str, e: impl fmt::Display) -> ConfigError {
    ConfigError {
        problems: vec![ConfigProblem {
            path: path.into(),
            message: e.to_string().trim_end().to_string(),
        }],
    }
}

struct Problems<'a>(&'a mut Vec<ConfigProblem>);

impl Problems<'_> {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            path: path.into(),
            message: message.into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every problem the config text has, as `path: message`.
    pub(super) fn problems(text: &str) -> Vec<String> {
        match Config::from_toml(text) {
            Ok(_) => vec![],
            Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn empty_config_is_valid_and_exposes_nothing() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.gateway.listen, "127.0.0.1:8080");
        assert!(c.gateway.allowed_origins.is_empty());
        assert!(c.exposure.decide("any", "tool").is_none());
    }

    #[test]
    fn resources_and_prompts_entries_are_checked_like_expose_entries() {
        let p = problems(
            r#"
            [upstreams.docs]
            kind = "stdio"
            command = "x"
            [upstreams.shop]
            kind = "openapi"
            spec = "s.json"
            base_url = "http://127.0.0.1:1"
            [[resources]]
            upstream = "nope"
            uris = []
            [[resources]]
            upstream = "shop"
            uris = ["x://[a"]
            scopes = ["bad scope"]
            [[prompts]]
            upstream = "docs"
            prompts = []
            "#,
        );
        let joined = p.join("\n");
        for expected in [
            "resources[0].upstream: no upstream named `nope`",
            "resources[0].uris: empty list",
            "resources[1].upstream: `shop` is an OpenAPI upstream; it offers tools only",
            "resources[1].uris[0]: `x://[a` is not a valid glob",
            "resources[1].scopes[0]:",
            "prompts[0].prompts: empty list",
        ] {
            assert!(joined.contains(expected), "{expected} in {joined}");
        }
        let c = Config::from_toml(
            "[upstreams.docs]\nkind = \"stdio\"\ncommand = \"x\"\n[[prompts]]\nupstream = \"docs\"\n\
             prompts = [\"p\"]\nscopes = [\"docs:read\"]\n",
        )
        .unwrap();
        assert!(
            c.scopes().contains("docs:read"),
            "key scopes may name prompt scopes"
        );
        assert_eq!(c.offers.wants("docs"), (false, true));
    }

    #[test]
    fn every_problem_is_listed_with_its_path() {
        let p = problems(
            r#"
            [gateway]
            listen = "everywhere"
            colour = "blue"

            [upstreams.demo]
            kind = "stdio"
            comand = "x"

            [upstreams.web]
            kind = "http"
            url = "ftp://x"
            command = "y"
            headers.Authorization = { env = "A", file = "b" }

            [[expose]]
            upstream = "nope"
            tools = ["echo", "[bad"]

            [[expose]]
            upstream = "demo"
            tools = ["echo"]
            read_only = true
            read_onyl = true
            "#,
        );
        let joined = p.join("\n");
        for needle in [
            "gateway.colour: unknown key",
            "expose[1].read_onyl: unknown key",
            "upstreams.demo.comand: unknown key",
            "gateway.listen: `everywhere` is not an address",
            "upstreams.demo.command: missing",
            "upstreams.web.url: missing or not an http(s) URL",
            "upstreams.web.command: not used by kind = \"http\"",
            "upstreams.web.headers.Authorization: give exactly one of",
            "expose[0].upstream: no upstream named `nope`",
            "expose[0].tools[1]:",
            "expose[0]: tools are treated as destructive unless declared read-only",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in\n{joined}");
        }
        assert_eq!(p.len(), 11, "{joined}");
    }

    #[test]
    fn destructive_and_read_only_are_exclusive() {
        let p = problems(
            r#"
            [upstreams.a]
            kind = "stdio"
            command = "x"
            [[expose]]
            upstream = "a"
            tools = ["t"]
            read_only = true
            destructive = true
            "#,
        );
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("both true"));
    }

    #[test]
    fn syntax_errors_are_reported() {
        let p = problems("[gateway\nlisten=");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("(file):"), "{p:?}");
    }
}

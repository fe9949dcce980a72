//! The pre-flight audit: what is wrong with what a configuration would publish, before any
//! client sees it.
//!
//! [`lint`] looks at every tool the catalogue would publish (from the upstreams' listings, as
//! [`Catalogue::build`] publishes them) and reports [`LintFinding`]s, each with a stable id
//! (`rule:tool`, or `rule:tool:detail` where one tool can have several), a [`Severity`], what
//! is wrong and the fix. `portcullis lint` prints them; `serve` refuses to start — and, later,
//! to publish a tool — while a critical finding stands that the config does not acknowledge
//! (`[[lint.acknowledge]]`, by id, with a reason).
//!
//! Names are read as words: a path's segments and an operation's name are split at `/`, `-`,
//! `_`, `.` and case changes, and a finding needs a whole word (or two adjacent words that
//! make one: `sign_in`). So `/auth/token` and `admin_stats` are findings, and `/api/tokenize`,
//! `/api/rootbeer` and `/api/management-report` are not.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::approval::ApprovalMode;
use crate::catalogue::{
    ALIASES, Catalogue, CatalogueNote, PublishedTool, RESPONSE_SCHEMA, UpstreamListing,
};
use crate::poisoning::{PoisonKind, PoisonScan};
use crate::policy::{AccessRules, Denial, Principal, authorize};
use crate::redact::{Redactor, normalize_key};

/// How much a finding matters. `critical` stops `serve` unless acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const NAMES: &str = "info, low, medium, high or critical";

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Result<Severity, String> {
        Ok(match text {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            other => {
                return Err(format!(
                    "`{}` is not a severity; use {}",
                    other.escape_debug(),
                    Severity::NAMES
                ));
            }
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    pub id: &'static str,
    pub severity: Severity,
    /// What the check looks for.
    pub summary: &'static str,
    /// What to do about a finding.
    pub fix: &'static str,
}

/// Every check [`lint`] makes, the poisoning kinds included (built once).
pub fn rules() -> &'static [RuleInfo] {
    static RULES: std::sync::OnceLock<Vec<RuleInfo>> = std::sync::OnceLock::new();
    RULES.get_or_init(all_rules)
}

fn all_rules() -> Vec<RuleInfo> {
    let mut all = vec![
        RuleInfo {
            id: "auth-endpoint",
            severity: Severity::Critical,
            summary: "an authentication or authorization-server endpoint (login, token, OAuth, \
                      registration, password, `.well-known`) becomes a tool",
            fix: "remove it from [[expose]]: a model should never hold a login or mint tokens",
        },
        RuleInfo {
            id: "admin-endpoint",
            severity: Severity::Critical,
            summary: "an administrative or internal endpoint becomes a tool",
            fix: "remove it from [[expose]], or put it in a group only operators use",
        },
        RuleInfo {
            id: "debug-endpoint",
            severity: Severity::High,
            summary: "a debug, metrics or diagnostics endpoint becomes a tool",
            fix: "remove it from [[expose]]; diagnostics leak internals",
        },
        RuleInfo {
            id: "missing-description",
            severity: Severity::Medium,
            summary: "a tool without a description (the model guesses what it does)",
            fix: "describe it upstream, or in `operations.<id>.description` for OpenAPI upstreams",
        },
        RuleInfo {
            id: "secret-parameter",
            severity: Severity::High,
            summary: "a parameter that looks like a secret (password, token, API key, cookie): \
                      the model would have to hold and send it",
            fix: "have the gateway send the credential (`headers` of the upstream) and leave \
                  the parameter out",
        },
        RuleInfo {
            id: "secret-in-response",
            severity: Severity::High,
            summary: "the response schema has a field that looks like a secret",
            fix: "leave the field out of the API's response, or keep the tool unexposed \
                  (redaction masks it, but the model should not need it)",
        },
        RuleInfo {
            id: "pii-in-response",
            severity: Severity::Medium,
            summary: "the response schema has personal-data fields (email, phone, address, \
                      birth date, national id, card or bank numbers)",
            fix: "make sure redaction covers them ([redaction]), or expose a narrower operation",
        },
        RuleInfo {
            id: "public-destructive-tool",
            severity: Severity::Medium,
            summary: "a destructive tool without scopes: any authenticated caller may call it",
            fix: "give its [[expose]] entry `scopes`",
        },
        RuleInfo {
            id: "destructive-without-approval",
            severity: Severity::Medium,
            summary: "a destructive tool whose calls run without anyone's approval",
            fix: "leave `approval` out of its [[expose]] entry (destructive tools then wait for \
                  an operator), or set `approval = \"user\"`",
        },
        RuleInfo {
            id: "public-tool",
            severity: Severity::Low,
            summary: "a tool without scopes: any authenticated caller may call it",
            fix: "give its [[expose]] entry `scopes` if not every caller should have it",
        },
        RuleInfo {
            id: "free-form-parameter",
            severity: Severity::Low,
            summary: "a parameter without a type, or an input that accepts any fields",
            fix: "type the parameter upstream (a type, an enum or a pattern)",
        },
        RuleInfo {
            id: "no-output-schema",
            severity: Severity::Info,
            summary: "a tool whose results have no schema",
            fix: "declare an output schema upstream (a response schema for OpenAPI operations)",
        },
        RuleInfo {
            id: "name-collision",
            severity: Severity::High,
            summary: "two exposed tools would publish under the same name; neither is published",
            fix: "give one of the upstreams a `prefix`, or expose only one of them",
        },
        RuleInfo {
            id: "shadowed-name",
            severity: Severity::Medium,
            summary: "upstreams offer tools of the same name; a model choosing by name can be \
                      steered to the wrong one",
            fix: "expose only one, or make sure every upstream has a distinct `prefix`",
        },
        RuleInfo {
            id: "near-identical-names",
            severity: Severity::Medium,
            summary: "tools of different upstreams whose names differ only in case, separators \
                      or one character",
            fix: "expose only one of them, or rename one (`prefix`, `operations.<id>.name`)",
        },
        RuleInfo {
            id: "too-many-tools",
            severity: Severity::Medium,
            summary: "an endpoint or group offers more tools than clients handle well",
            fix: "split the tools into [groups], or raise `lint.max_tools` if clients cope",
        },
    ];
    all.extend(PoisonKind::ALL.iter().map(|k| RuleInfo {
        id: k.rule(),
        severity: if k.is_critical() {
            Severity::Critical
        } else {
            Severity::High
        },
        summary: k.describe(),
        fix: if k.is_critical() {
            "do not publish the tool until its server is trusted again; report the \
             definition to its author"
        } else {
            "read the definition: if it only describes the tool, acknowledge the finding"
        },
    }));
    all
}

/// The rule `id`.
pub fn rule(id: &str) -> Option<RuleInfo> {
    rules().iter().find(|r| r.id == id).copied()
}

/// What the config says about the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintSettings {
    /// More published tools than this, on one endpoint or group, is a finding.
    pub max_tools: usize,
    /// Finding ids the operator accepts, with the reason given.
    pub acknowledged: BTreeMap<String, String>,
}

impl Default for LintSettings {
    fn default() -> LintSettings {
        LintSettings {
            max_tools: 128,
            acknowledged: BTreeMap::new(),
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintFinding {
    /// Stable across runs: `rule:tool` or `rule:tool:detail`.
    pub id: String,
    pub rule: &'static str,
    pub severity: Severity,
    /// The published tool's name (or the endpoint, for `too-many-tools`).
    pub tool: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub upstream: String,
    pub message: String,
    pub fix: String,
    /// Where, when it is one place: the parameter (`options.session_id`), or for poisoning a
    /// path into the definition (`inputSchema.properties.to.description`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The operator's reason, when the config acknowledges the finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<String>,
}

impl LintFinding {
    /// Whether it stops `serve`: critical and not acknowledged.
    pub fn blocks(&self) -> bool {
        self.severity == Severity::Critical && self.acknowledged.is_none()
    }
}

impl fmt::Display for LintFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}] {}", self.severity, self.id, self.message)?;
        if let Some(reason) = &self.acknowledged {
            write!(f, " (acknowledged: {reason})")?;
        }
        Ok(())
    }
}

/// What [`lint`] reads.
pub struct LintInput<'a> {
    pub listings: &'a [UpstreamListing],
    pub exposure: &'a crate::Exposure,
    pub access: &'a AccessRules,
    pub redactor: &'a Redactor,
    pub settings: &'a LintSettings,
    pub poisoning: &'a PoisonScan,
}

impl<'a> LintInput<'a> {
    /// What `config` says, over `listings`.
    pub fn of(
        config: &'a crate::Config,
        listings: &'a [UpstreamListing],
        poisoning: &'a PoisonScan,
    ) -> LintInput<'a> {
        LintInput {
            listings,
            exposure: &config.exposure,
            access: &config.access,
            redactor: &config.redaction,
            settings: &config.lint,
            poisoning,
        }
    }
}

/// Every finding about what `input` would publish, most severe first, then by id.
pub fn lint(input: &LintInput<'_>) -> Vec<LintFinding> {
    let (catalogue, notes) = Catalogue::build(input.exposure, input.listings);
    let mut out = Findings::default();
    for note in &notes {
        if let CatalogueNote::NameCollision { name } = note {
            out.add("name-collision", name, "", None, note.to_string());
        }
    }
    for tool in catalogue.tools() {
        let raw = raw_definition(input.listings, tool).unwrap_or(&tool.definition);
        let bridged = input
            .listings
            .iter()
            .any(|l| l.upstream == tool.upstream && l.bridged);
        endpoint_kind(tool, raw, &mut out);
        describe(tool, raw, bridged, &mut out);
        parameters(tool, input.redactor, &mut out);
        responses(tool, raw, bridged, input.redactor, &mut out);
        if tool.scopes.is_empty() {
            let rule = if tool.read_only {
                "public-tool"
            } else {
                "public-destructive-tool"
            };
            let kind = if tool.read_only { "" } else { "destructive " };
            out.add(
                rule,
                &tool.name,
                &tool.upstream,
                None,
                format!("`{}` is a {kind}tool without scopes", tool.name),
            );
        }
        if !tool.read_only && tool.approval == ApprovalMode::None {
            out.add(
                "destructive-without-approval",
                &tool.name,
                &tool.upstream,
                None,
                format!(
                    "`{}` is destructive and its calls run without approval",
                    tool.name
                ),
            );
        }
        let foreign = foreign_names(&catalogue, tool);
        let foreign: Vec<&str> = foreign.iter().map(String::as_str).collect();
        for poison in input.poisoning.scan(raw, &foreign) {
            out.add(
                poison.kind.rule(),
                &tool.name,
                &tool.upstream,
                Some(poison.path.clone()),
                format!(
                    "`{}` {}: `{}` at {}",
                    tool.name,
                    poison.kind.describe(),
                    poison.excerpt,
                    poison.path
                ),
            );
        }
    }
    names(&catalogue, &mut out);
    counts(&catalogue, input.access, input.settings.max_tools, &mut out);
    let mut found = out.0;
    for f in &mut found {
        f.acknowledged = input.settings.acknowledged.get(&f.id).cloned();
    }
    found.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
    found
}

/// Acknowledgements in `settings` that match none of `found`: stale, or misspelt.
pub fn unmatched_acknowledgements<'a>(
    settings: &'a LintSettings,
    found: &[LintFinding],
) -> Vec<&'a str> {
    settings
        .acknowledged
        .keys()
        .filter(|id| !found.iter().any(|f| &f.id == *id))
        .map(String::as_str)
        .collect()
}

#[derive(Default)]
struct Findings(Vec<LintFinding>);

impl Findings {
    /// Adds a finding of `rule` (its severity and fix) unless one of the same id is there.
    fn add(
        &mut self,
        rule_id: &'static str,
        tool: &str,
        upstream: &str,
        detail: Option<String>,
        message: String,
    ) {
        let Some(info) = rule(rule_id) else { return };
        let poisoning = rule_id.starts_with("poisoning.");
        let id = match &detail {
            Some(d) if !poisoning => format!("{rule_id}:{tool}:{d}"),
            _ => format!("{rule_id}:{tool}"),
        };
        if self.0.iter().any(|f| f.id == id) {
            return;
        }
        self.0.push(LintFinding {
            id,
            rule: info.id,
            severity: info.severity,
            tool: tool.to_string(),
            upstream: upstream.to_string(),
            message,
            fix: info.fix.to_string(),
            path: detail,
            acknowledged: None,
        });
    }
}

/// The definition as the upstream listed it (with the bridge's own fields).
pub fn raw_definition<'a>(
    listings: &'a [UpstreamListing],
    tool: &PublishedTool,
) -> Option<&'a Value> {
    listings
        .iter()
        .filter(|l| l.upstream == tool.upstream)
        .flat_map(|l| &l.tools)
        .find(|d| d.get("name").and_then(Value::as_str) == Some(tool.upstream_tool.as_str()))
}

/// Words (lower case) of a name or path: split at anything not a letter or digit and where
/// lower case turns upper (`getAccessToken` → get, access, token).
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower && !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
            word.extend(c.to_lowercase());
        } else {
            prev_lower = false;
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The words, and each pair of adjacent words joined (`sign in` → `signin`).
fn with_pairs(words: &[String]) -> Vec<String> {
    let mut out = words.to_vec();
    out.extend(words.windows(2).map(|w| format!("{}{}", w[0], w[1])));
    out
}

const AUTH_WORDS: &[&str] = &[
    "login",
    "logon",
    "logout",
    "signin",
    "signout",
    "signup",
    "token",
    "tokens",
    "oauth",
    "oauth2",
    "authorize",
    "authenticate",
    "authentication",
    "auth",
    "jwks",
    "openid",
    "saml",
    "sso",
    "mfa",
    "otp",
    "2fa",
    "password",
    "passwords",
    "passwd",
    "apikey",
    "apikeys",
    "credentials",
];
/// Auth words only as a whole path segment: as a word of a tool name they mean other things
/// (`register_product`, `create_session`).
const AUTH_SEGMENTS: &[&str] = &[
    "register",
    "registration",
    "session",
    "sessions",
    ".well-known",
    "userinfo",
    "introspect",
    "revoke",
];
/// Path segments under which a segment-only word is about accounts.
const ACCOUNT_CONTEXT: &[&str] = &[
    "api", "v1", "v2", "v3", "auth", "oauth", "oauth2", "user", "users", "account", "accounts",
    "identity", "iam", "me",
];
const ADMIN_WORDS: &[&str] = &[
    "admin",
    "admins",
    "administrator",
    "administration",
    "superuser",
    "sudo",
    "internal",
    "backoffice",
];
const DEBUG_WORDS: &[&str] = &[
    "debug",
    "actuator",
    "metrics",
    "heapdump",
    "pprof",
    "phpinfo",
    "diagnostics",
];
const DEBUG_SEGMENTS: &[&str] = &["env", "trace", "_debug"];

/// Auth, admin and debug endpoints, by the bridged route's segments and the tool's names.
fn endpoint_kind(tool: &PublishedTool, raw: &Value, out: &mut Findings) {
    let route = raw
        .get(ALIASES)
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .filter(|r| r.contains(" /"));
    let segments: Vec<String> = route
        .iter()
        .flat_map(|r| r.split(' ').nth(1).unwrap_or_default().split('/'))
        .filter(|s| !s.is_empty() && !s.starts_with('{'))
        .map(str::to_ascii_lowercase)
        .collect();
    let mut name_words = with_pairs(&words(&tool.upstream_tool));
    for segment in &segments {
        name_words.extend(with_pairs(&words(segment)));
    }
    // A segment-only word counts at the top of the path or under a segment that says it is
    // about accounts (`/register`, `/api/v1/register`, `/users/session`; not `/products/register`).
    let segment_hit = |seg_list: &[&str]| {
        segments.iter().enumerate().find_map(|(i, s)| {
            let top = i == 0 || ACCOUNT_CONTEXT.contains(&segments[i - 1].as_str());
            (seg_list.contains(&s.as_str()) && (top || s == ".well-known")).then(|| s.clone())
        })
    };
    let hit = |list: &[&str], seg_list: &[&str]| {
        name_words
            .iter()
            .find(|w| list.contains(&w.as_str()))
            .cloned()
            .or_else(|| segment_hit(seg_list))
    };
    let what = route.map_or_else(
        || format!("`{}`", tool.name),
        |r| format!("`{}` ({r})", tool.name),
    );
    for (rule, list, seg_list, kind) in [
        (
            "auth-endpoint",
            AUTH_WORDS,
            AUTH_SEGMENTS,
            "an authentication",
        ),
        (
            "admin-endpoint",
            ADMIN_WORDS,
            &[][..],
            "an administrative or internal",
        ),
        (
            "debug-endpoint",
            DEBUG_WORDS,
            DEBUG_SEGMENTS,
            "a debug or diagnostics",
        ),
    ] {
        if let Some(word) = hit(list, seg_list) {
            out.add(
                rule,
                &tool.name,
                &tool.upstream,
                None,
                format!("{what} looks like {kind} endpoint (`{word}`)"),
            );
            return;
        }
    }
}

fn describe(tool: &PublishedTool, raw: &Value, bridged: bool, out: &mut Findings) {
    let description = raw
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    // The bridge describes an operation without summary or description by its route.
    let route_only = bridged
        && raw
            .get(ALIASES)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            == Some(description);
    if description.is_empty() || route_only {
        out.add(
            "missing-description",
            &tool.name,
            &tool.upstream,
            None,
            format!("`{}` has no description", tool.name),
        );
    }
}

/// Secret-looking and untyped parameters, at any depth of the input schema.
fn parameters(tool: &PublishedTool, redactor: &Redactor, out: &mut Findings) {
    let Some(schema) = tool.definition.get("inputSchema") else {
        return;
    };
    if schema
        .get("properties")
        .is_none_or(|p| p.as_object().is_some_and(|p| p.is_empty()))
        && schema.get("additionalProperties") != Some(&Value::Bool(false))
        && schema.get("type") != Some(&Value::String("object".into()))
    {
        out.add(
            "free-form-parameter",
            &tool.name,
            &tool.upstream,
            None,
            format!("`{}` takes input without a schema", tool.name),
        );
    }
    each_property(schema, "", &mut |path, name, property| {
        if redactor.is_sensitive_key(name) {
            out.add(
                "secret-parameter",
                &tool.name,
                &tool.upstream,
                Some(path.to_string()),
                format!(
                    "`{}` asks the model for `{path}`, which looks like a secret",
                    tool.name
                ),
            );
        } else if is_untyped(property) {
            out.add(
                "free-form-parameter",
                &tool.name,
                &tool.upstream,
                Some(path.to_string()),
                format!("`{}`'s parameter `{path}` has no type", tool.name),
            );
        }
    });
}

fn is_untyped(schema: &Value) -> bool {
    let Some(members) = schema.as_object() else {
        return schema == &Value::Bool(true);
    };
    ![
        "type",
        "enum",
        "const",
        "$ref",
        "anyOf",
        "oneOf",
        "allOf",
        "properties",
        "items",
    ]
    .iter()
    .any(|k| members.contains_key(*k))
}

/// Calls `visit(path, name, schema)` for every named property at any depth: nested objects,
/// array items, and the branches of `anyOf`/`oneOf`/`allOf`. `$ref`s are resolved by the
/// bridge before this sees them; a `$ref` left in an MCP tool's schema is followed within
/// the schema's own `$defs`/`definitions`.
fn each_property(schema: &Value, path: &str, visit: &mut dyn FnMut(&str, &str, &Value)) {
    each_property_in(schema, schema, path, 0, visit);
}

const MAX_SCHEMA_DEPTH: usize = 24;

fn each_property_in(
    root: &Value,
    schema: &Value,
    path: &str,
    depth: usize,
    visit: &mut dyn FnMut(&str, &str, &Value),
) {
    if depth > MAX_SCHEMA_DEPTH {
        return;
    }
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(pointer) => match pointer.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(target) => target,
            None => return,
        },
        None => schema,
    };
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (name, property) in properties {
            let at = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            visit(&at, name, property);
            each_property_in(root, property, &at, depth + 1, visit);
        }
    }
    if let Some(items) = schema.get("items") {
        each_property_in(root, items, &format!("{path}[]"), depth + 1, visit);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for branch in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            each_property_in(root, branch, path, depth + 1, visit);
        }
    }
    if let Some(extra @ Value::Object(_)) = schema.get("additionalProperties") {
        each_property_in(root, extra, &format!("{path}.*"), depth + 1, visit);
    }
}

/// Field names (normalised) that hold personal data.
const PII_FIELDS: &[&str] = &[
    "email",
    "email_address",
    "e_mail",
    "phone",
    "phone_number",
    "mobile",
    "telephone",
    "address",
    "street",
    "street_address",
    "home_address",
    "postal_code",
    "zip",
    "zip_code",
    "date_of_birth",
    "dob",
    "birth_date",
    "birthdate",
    "birthday",
    "ssn",
    "social_security_number",
    "national_id",
    "passport",
    "passport_number",
    "tax_id",
    "driver_license",
    "drivers_license",
    "card_number",
    "credit_card",
    "iban",
    "account_number",
    "bank_account",
    "ip_address",
    "salary",
];

/// Last words of a field name (normalised) that make it personal data (`billing_address`).
const PII_LAST_WORDS: &[&str] = &[
    "email", "phone", "address", "ssn", "iban", "dob", "birthday",
];

fn responses(
    tool: &PublishedTool,
    raw: &Value,
    bridged: bool,
    redactor: &Redactor,
    out: &mut Findings,
) {
    let schema = if bridged {
        raw.get(RESPONSE_SCHEMA)
    } else {
        raw.get("outputSchema")
    };
    let Some(schema) = schema.filter(|s| !s.is_null()) else {
        out.add(
            "no-output-schema",
            &tool.name,
            &tool.upstream,
            None,
            format!("`{}` declares no schema for its results", tool.name),
        );
        return;
    };
    let mut pii = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    each_property(schema, "", &mut |path, name, _| {
        let key = normalize_key(name);
        let last = key.rsplit('_').next().unwrap_or_default();
        if PII_FIELDS.contains(&key.as_str()) || PII_LAST_WORDS.contains(&last) {
            pii.insert(path.to_string());
        } else if redactor.is_sensitive_key(name) {
            secrets.insert(path.to_string());
        }
    });
    let list = |set: &BTreeSet<String>| {
        set.iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !secrets.is_empty() {
        out.add(
            "secret-in-response",
            &tool.name,
            &tool.upstream,
            None,
            format!(
                "`{}` returns fields that look like secrets: {}",
                tool.name,
                list(&secrets)
            ),
        );
    }
    if !pii.is_empty() {
        out.add(
            "pii-in-response",
            &tool.name,
            &tool.upstream,
            None,
            format!("`{}` returns personal data: {}", tool.name, list(&pii)),
        );
    }
}

/// The names, bare and published, of the other upstreams' tools that look like identifiers
/// (`send_email`, `createIssue`), which a description has no reason to name.
fn foreign_names(catalogue: &Catalogue, tool: &PublishedTool) -> BTreeSet<String> {
    catalogue
        .tools()
        .iter()
        .filter(|t| t.upstream != tool.upstream)
        .flat_map(|t| [t.name.clone(), t.upstream_tool.clone()])
        .filter(|n| n.len() >= 5 && words(n).len() >= 2)
        .collect()
}

/// Same bare names across upstreams, and published names that are nearly the same.
fn names(catalogue: &Catalogue, out: &mut Findings) {
    let tools = catalogue.tools();
    let mut by_bare: BTreeMap<&str, Vec<&PublishedTool>> = BTreeMap::new();
    for t in tools {
        by_bare.entry(t.upstream_tool.as_str()).or_default().push(t);
    }
    for (bare, same) in by_bare {
        let upstreams: BTreeSet<&str> = same.iter().map(|t| t.upstream.as_str()).collect();
        if upstreams.len() > 1 {
            let published: Vec<String> = same.iter().map(|t| format!("`{}`", t.name)).collect();
            out.add(
                "shadowed-name",
                bare,
                "",
                None,
                format!(
                    "{} upstreams offer a tool named `{bare}`: {}",
                    upstreams.len(),
                    published.join(", ")
                ),
            );
        }
    }
    let squash = |n: &str| -> String {
        n.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    for (i, a) in tools.iter().enumerate() {
        for b in &tools[i + 1..] {
            if a.upstream == b.upstream || a.upstream_tool == b.upstream_tool {
                continue;
            }
            let (x, y) = (squash(&a.name), squash(&b.name));
            if x == y || (x.len() >= 6 && within_one_edit(&x, &y)) {
                out.add(
                    "near-identical-names",
                    &format!("{}~{}", a.name, b.name),
                    "",
                    None,
                    format!(
                        "`{}` ({}) and `{}` ({}) are nearly the same name",
                        a.name, a.upstream, b.name, b.upstream
                    ),
                );
            }
        }
    }
}

/// Whether one insertion, deletion or substitution turns `a` into `b`.
fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let prefix = short.iter().zip(&long).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        // One substitution: all after the first difference is the same.
        prefix >= short.len() || short[prefix + 1..] == long[prefix + 1..]
    } else {
        short[prefix..] == long[prefix + 1..]
    }
}

/// Tools per endpoint: the main one, and each group.
fn counts(catalogue: &Catalogue, access: &AccessRules, max: usize, out: &mut Findings) {
    let everyone = Principal::anonymous();
    let offered = |group: Option<&str>| {
        catalogue
            .tools()
            .iter()
            .filter(|t| {
                matches!(
                    authorize(access, &everyone, t, group),
                    Ok(_) | Err(Denial::NotAuthenticated | Denial::MissingScopes(_))
                )
            })
            .count()
    };
    let endpoints = std::iter::once(None).chain(access.group_names().map(Some));
    for group in endpoints {
        let n = offered(group);
        if n > max {
            let name = group.map_or_else(|| "/mcp".to_string(), |g| format!("/mcp/g/{g}"));
            out.add(
                "too-many-tools",
                &name,
                "",
                None,
                format!("{name} offers {n} tools, more than {max}"),
            );
        }
    }
}

#[cfg(test)]
mod tests;

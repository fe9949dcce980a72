//! Who may call what: the one decision every `tools/list` and `tools/call` goes through.
//!
//! [`authorize`] is a pure function of the caller, the published tool and the rules. It denies
//! by default and on any doubt: a tool that declares scopes runs only for a verified principal
//! holding every one of them; anonymous callers get public tools at most; an upstream's deny
//! globs and a group's allow and deny globs (exact case, on the published name; deny wins)
//! narrow what exposure published. The only way to obtain an [`Authorized`] is a successful
//! [`authorize`], and the gateway cannot call an upstream tool without one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use crate::catalogue::PublishedTool;
use crate::exposure::ToolPattern;

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// An API key from `portcullis keys create`.
    ApiKey,
    /// The throwaway key `serve --dev` prints.
    DevKey,
    /// A bearer JWT from a configured authorization server. Under `step_up` the caller sees
    /// every tool it could be granted, and a call lacking scopes asks for them (HTTP 403).
    OAuth { step_up: bool },
    /// No credentials, where the config allows that.
    Anonymous,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::ApiKey => "api_key",
            PrincipalKind::DevKey => "dev_key",
            PrincipalKind::OAuth { .. } => "oauth",
            PrincipalKind::Anonymous => "anonymous",
        }
    }
}

/// A caller, as authentication established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable id: the key id, or `anonymous`.
    pub id: String,
    pub kind: PrincipalKind,
    pub scopes: BTreeSet<String>,
    /// An OAuth token's claims (an object); `null` for keys. `[[rules]]` read them as
    /// `principal.claims`.
    pub claims: serde_json::Value,
}

impl Principal {
    pub fn anonymous() -> Principal {
        Principal {
            id: "anonymous".into(),
            kind: PrincipalKind::Anonymous,
            scopes: BTreeSet::new(),
            claims: serde_json::Value::Null,
        }
    }

    pub fn is_verified(&self) -> bool {
        self.kind != PrincipalKind::Anonymous
    }
}

/// A group's curated subset of the published tools, served at `/mcp/g/<group>`.
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub allow: Vec<ToolPattern>,
    pub deny: Vec<ToolPattern>,
    pub catalogue: crate::config::CatalogueMode,
}

/// Deny rules per upstream, and the groups.
#[derive(Debug, Clone, Default)]
pub struct AccessRules {
    upstream_deny: HashMap<String, Vec<ToolPattern>>,
    groups: BTreeMap<String, Group>,
}

/// Why a call was refused. The client never learns which; the audit record does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The upstream's or the group's deny rules name it, or the group does not offer it.
    Rule,
    /// A scoped tool, and the caller is anonymous.
    NotAuthenticated,
    /// The caller lacks these scopes.
    MissingScopes(Vec<String>),
    /// The request came in on a group that does not exist.
    UnknownGroup,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::Rule => f.write_str("denied by an access rule"),
            Denial::NotAuthenticated => f.write_str("scoped tool and anonymous caller"),
            Denial::MissingScopes(s) => write!(f, "missing scopes: {}", s.join(" ")),
            Denial::UnknownGroup => f.write_str("unknown group"),
        }
    }
}

/// Proof that one principal may call one published tool. Only [`authorize`] makes one: its
/// fields are private, and nothing else constructs it.
///
/// ```compile_fail
/// let forged = portcullis_core::Authorized {
///     upstream: "demo".into(),
///     upstream_tool: "refund".into(),
///     tool: "demo_refund".into(),
///     principal: "anyone".into(),
/// };
/// ```
#[derive(Debug)]
pub struct Authorized {
    upstream: String,
    upstream_tool: String,
    tool: String,
    principal: String,
}

impl Authorized {
    pub fn upstream(&self) -> &str {
        &self.upstream
    }
    /// The tool's name at its upstream.
    pub fn upstream_tool(&self) -> &str {
        &self.upstream_tool
    }
    /// The published name.
    pub fn tool(&self) -> &str {
        &self.tool
    }
    pub fn principal(&self) -> &str {
        &self.principal
    }
}

impl AccessRules {
    pub fn new(
        upstream_deny: HashMap<String, Vec<ToolPattern>>,
        groups: BTreeMap<String, Group>,
    ) -> AccessRules {
        AccessRules {
            upstream_deny,
            groups,
        }
    }

    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    /// How the endpoint of `group` (`None`: the main one, whose mode is `main`) offers tools.
    pub fn catalogue(
        &self,
        group: Option<&str>,
        main: crate::config::CatalogueMode,
    ) -> crate::config::CatalogueMode {
        match group {
            None => main,
            Some(g) => self.groups.get(g).map_or(main, |g| g.catalogue),
        }
    }

    /// The groups, in name order.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &Group)> {
        self.groups.iter().map(|(name, g)| (name.as_str(), g))
    }
}

/// Whether `tools/list` shows `tool` to `principal`: when it may call it, and, for OAuth
/// callers under step-up, also when only scopes are missing (the call then asks for them).
pub fn may_see(
    rules: &AccessRules,
    principal: &Principal,
    tool: &PublishedTool,
    group: Option<&str>,
) -> bool {
    match authorize(rules, principal, tool, group) {
        Ok(_) => true,
        Err(Denial::MissingScopes(_)) => {
            matches!(principal.kind, PrincipalKind::OAuth { step_up: true })
        }
        Err(_) => false,
    }
}

/// Decides whether `principal` may see and call `tool`, arriving on `group` (`None` for the
/// main endpoint).
pub fn authorize(
    rules: &AccessRules,
    principal: &Principal,
    tool: &PublishedTool,
    group: Option<&str>,
) -> Result<Authorized, Denial> {
    let matches = |patterns: &[ToolPattern]| patterns.iter().any(|p| p.matches_name(&tool.name));
    if rules
        .upstream_deny
        .get(&tool.upstream)
        .is_some_and(|deny| matches(deny))
    {
        return Err(Denial::Rule);
    }
    if let Some(name) = group {
        let g = rules.groups.get(name).ok_or(Denial::UnknownGroup)?;
        if !matches(&g.allow) || matches(&g.deny) {
            return Err(Denial::Rule);
        }
    }
    if !tool.scopes.is_empty() {
        if !principal.is_verified() {
            return Err(Denial::NotAuthenticated);
        }
        let missing: Vec<String> = tool
            .scopes
            .iter()
            .filter(|s| !principal.scopes.contains(*s))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(Denial::MissingScopes(missing));
        }
    }
    Ok(Authorized {
        upstream: tool.upstream.clone(),
        upstream_tool: tool.upstream_tool.clone(),
        tool: tool.name.clone(),
        principal: principal.id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool(name: &str, upstream: &str, scopes: &[&str]) -> PublishedTool {
        PublishedTool {
            name: name.into(),
            upstream: upstream.into(),
            upstream_tool: name.split_once('_').map_or(name, |(_, t)| t).into(),
            read_only: true,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            rate: None,
            cost: 1,
            guardrail: Default::default(),
            approval: Default::default(),
            definition: json!({}),
        }
    }

    #[test]
    fn step_up_shows_tools_lacking_only_scopes_and_still_refuses_them() {
        let rules = AccessRules::default();
        let refund = tool("demo_refund", "demo", &["invoices:write"]);
        let mut caller = key(&["invoices:read"]);
        caller.kind = PrincipalKind::OAuth { step_up: true };
        assert!(may_see(&rules, &caller, &refund, None));
        assert_eq!(
            authorize(&rules, &caller, &refund, None).unwrap_err(),
            Denial::MissingScopes(vec!["invoices:write".into()])
        );
        caller.kind = PrincipalKind::OAuth { step_up: false };
        assert!(!may_see(&rules, &caller, &refund, None));
        let mut denied = AccessRules::default();
        denied.upstream_deny.insert(
            "demo".into(),
            vec![ToolPattern::parse("demo_refund").unwrap()],
        );
        caller.kind = PrincipalKind::OAuth { step_up: true };
        assert!(
            !may_see(&denied, &caller, &refund, None),
            "deny rules still hide"
        );
    }

    fn key(scopes: &[&str]) -> Principal {
        Principal {
            id: "k1".into(),
            kind: PrincipalKind::ApiKey,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            claims: serde_json::Value::Null,
        }
    }

    fn pats(p: &[&str]) -> Vec<ToolPattern> {
        p.iter().map(|p| ToolPattern::parse(p).unwrap()).collect()
    }

    #[test]
    fn scoped_tools_need_every_scope_and_a_verified_caller() {
        let rules = AccessRules::default();
        let t = tool("demo_refund", "demo", &["invoices:read", "invoices:write"]);
        assert_eq!(
            authorize(&rules, &Principal::anonymous(), &t, None).unwrap_err(),
            Denial::NotAuthenticated
        );
        assert_eq!(
            authorize(&rules, &key(&["invoices:read"]), &t, None).unwrap_err(),
            Denial::MissingScopes(vec!["invoices:write".into()])
        );
        let ok = authorize(
            &rules,
            &key(&["invoices:read", "invoices:write", "x"]),
            &t,
            None,
        )
        .unwrap();
        assert_eq!(
            (ok.tool(), ok.upstream_tool(), ok.principal()),
            ("demo_refund", "refund", "k1")
        );
        // An anonymous principal that somehow holds scopes is still not verified.
        let mut forged = Principal::anonymous();
        forged.scopes.insert("invoices:read".into());
        forged.scopes.insert("invoices:write".into());
        assert!(authorize(&rules, &forged, &t, None).is_err());
    }

    #[test]
    fn public_tools_are_open_to_anonymous_callers() {
        let rules = AccessRules::default();
        assert!(
            authorize(
                &rules,
                &Principal::anonymous(),
                &tool("demo_echo", "demo", &[]),
                None
            )
            .is_ok()
        );
    }

    #[test]
    fn deny_rules_win_and_match_exact_case() {
        let mut deny = HashMap::new();
        deny.insert("demo".to_string(), pats(&["demo_delete_*"]));
        let mut groups = BTreeMap::new();
        groups.insert(
            "billing".to_string(),
            Group {
                allow: pats(&["demo_*"]),
                deny: pats(&["demo_refund"]),
                ..Group::default()
            },
        );
        let rules = AccessRules::new(deny, groups);
        let p = key(&[]);
        assert_eq!(
            authorize(&rules, &p, &tool("demo_delete_user", "demo", &[]), None).unwrap_err(),
            Denial::Rule
        );
        assert!(authorize(&rules, &p, &tool("demo_Delete_user", "demo", &[]), None).is_ok());
        assert!(authorize(&rules, &p, &tool("demo_echo", "demo", &[]), Some("billing")).is_ok());
        assert_eq!(
            authorize(
                &rules,
                &p,
                &tool("demo_refund", "demo", &[]),
                Some("billing")
            )
            .unwrap_err(),
            Denial::Rule
        );
        assert_eq!(
            authorize(&rules, &p, &tool("web_get", "web", &[]), Some("billing")).unwrap_err(),
            Denial::Rule
        );
        assert_eq!(
            authorize(&rules, &p, &tool("demo_echo", "demo", &[]), Some("nope")).unwrap_err(),
            Denial::UnknownGroup
        );
        assert_eq!(
            authorize(
                &rules,
                &p,
                &tool("demo_delete_user", "demo", &[]),
                Some("billing")
            )
            .unwrap_err(),
            Denial::Rule
        );
    }
}

//! Deny-by-default exposure: which upstream tools may be published at all.
//!
//! A tool is exposed only when an `[[expose]]` entry for its upstream names it, exactly or by
//! glob. Matching is exact-case. When several entries match, the most cautious wins: the tool is
//! read-only only if every matching entry says so, and it requires every scope any of them
//! names. Upstream annotations play no part here.

use std::collections::BTreeSet;

use globset::{Glob, GlobMatcher};

use crate::approval::ApprovalMode;
use crate::guardrail::ToolModes;
use crate::limits::Rate;

/// One tool name or glob from an `[[expose]]` entry.
#[derive(Debug, Clone)]
pub struct ToolPattern {
    text: String,
    glob: Option<GlobMatcher>,
}

impl ToolPattern {
    pub fn parse(text: &str) -> Result<ToolPattern, String> {
        if text.is_empty() {
            return Err("empty tool name".into());
        }
        // `METHOD /path` patterns (OpenAPI operations) keep `{param}` literal.
        let route = text.split_once(' ').is_some_and(|(method, path)| {
            path.starts_with('/') && method.chars().all(|c| c.is_ascii_uppercase())
        });
        let is_glob = if route {
            text.contains(['*', '?', '['])
        } else {
            text.contains(['*', '?', '[', ']', '{', '}'])
        };
        let glob = if is_glob {
            let pattern = if route {
                text.replace('{', "[{]").replace('}', "[}]")
            } else {
                text.to_string()
            };
            let g =
                Glob::new(&pattern).map_err(|e| format!("`{text}` is not a valid glob: {e}"))?;
            Some(g.compile_matcher())
        } else {
            None
        };
        Ok(ToolPattern {
            text: text.to_string(),
            glob,
        })
    }

    /// The pattern as the operator wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_glob(&self) -> bool {
        self.glob.is_some()
    }

    /// Whether `name` matches, exactly or by glob (exact case either way).
    pub fn matches_name(&self, name: &str) -> bool {
        self.matches(name).is_some()
    }

    fn matches(&self, tool: &str) -> Option<MatchKind> {
        match &self.glob {
            None if self.text == tool => Some(MatchKind::Exact),
            Some(g) if g.is_match(tool) => Some(MatchKind::Glob),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchKind {
    Glob,
    Exact,
}

/// A validated `[[expose]]` entry.
#[derive(Debug, Clone)]
pub struct ExposeRule {
    pub upstream: String,
    pub patterns: Vec<ToolPattern>,
    pub read_only: bool,
    /// Scopes a caller must hold, all of them, to see and call the matched tools.
    pub scopes: BTreeSet<String>,
    /// The tools' own per-caller limit, replacing `limits.per_caller_tool`.
    pub rate: Option<Rate>,
    /// Budget units one call costs. Default 1.
    pub cost: u32,
    /// Guardrail modes for these tools, replacing the gateway's.
    pub guardrail: ToolModes,
    /// Who approves their calls; `None`: the default for their kind.
    pub approval: Option<ApprovalMode>,
}

fn same_settings(a: &ExposeRule, b: &ExposeRule) -> bool {
    a.read_only == b.read_only
        && a.scopes == b.scopes
        && a.rate == b.rate
        && a.cost == b.cost
        && a.guardrail == b.guardrail
        && a.approval == b.approval
}

/// What the exposure rules say about one upstream tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposureDecision {
    /// True when some entry names the tool exactly; false when only globs match.
    pub named_exactly: bool,
    /// True only when every matching entry declares the tool read-only.
    pub read_only: bool,
    /// Every scope any matching entry requires.
    pub scopes: BTreeSet<String>,
    /// The tightest own limit of the matching entries.
    pub rate: Option<Rate>,
    /// The highest cost of the matching entries.
    pub cost: u32,
    /// The strictest guardrail modes the matching entries set.
    pub guardrail: ToolModes,
    /// The strictest approval mode the matching entries set, else the default for the tool's
    /// kind (destructive tools wait for an operator).
    pub approval: ApprovalMode,
}

/// All exposure rules of a configuration.
#[derive(Debug, Clone, Default)]
pub struct Exposure {
    rules: Vec<ExposeRule>,
}

impl Exposure {
    pub fn new(rules: Vec<ExposeRule>) -> Exposure {
        Exposure { rules }
    }

    pub fn rules(&self) -> &[ExposeRule] {
        &self.rules
    }

    /// Entries that can match the same tool with different settings — probably a mistake: the
    /// strictest of each setting applies. As `(entry index, other entry index, pattern)`, where
    /// the pattern is one entry's name that the other entry matches too (or the same glob in
    /// both).
    pub fn overlaps(&self) -> Vec<(usize, usize, String)> {
        let mut found = Vec::new();
        for (i, a) in self.rules.iter().enumerate() {
            for (j, b) in self.rules.iter().enumerate().skip(i + 1) {
                if a.upstream != b.upstream || same_settings(a, b) {
                    continue;
                }
                let shared = a.patterns.iter().find_map(|p| {
                    b.patterns
                        .iter()
                        .any(|q| {
                            q.as_str() == p.as_str()
                                || (!p.is_glob() && q.matches_name(p.as_str()))
                                || (!q.is_glob() && p.matches_name(q.as_str()))
                        })
                        .then(|| p.as_str().to_string())
                });
                if let Some(pattern) = shared {
                    found.push((i, j, pattern));
                }
            }
        }
        found
    }

    /// `None` means the tool is not exposed.
    pub fn decide(&self, upstream: &str, tool: &str) -> Option<ExposureDecision> {
        self.decide_any(upstream, &[tool])
    }

    /// Like [`Exposure::decide`], for a tool known by several names (an OpenAPI operation: its
    /// tool name, its operationId and `METHOD /path`): a rule matching any of them applies.
    pub fn decide_any(&self, upstream: &str, names: &[&str]) -> Option<ExposureDecision> {
        let mut decision: Option<ExposureDecision> = None;
        let mut approval: Option<ApprovalMode> = None;
        for rule in self.rules.iter().filter(|r| r.upstream == upstream) {
            let Some(kind) = rule
                .patterns
                .iter()
                .flat_map(|p| names.iter().filter_map(|n| p.matches(n)))
                .max()
            else {
                continue;
            };
            let d = decision.get_or_insert(ExposureDecision {
                named_exactly: false,
                read_only: true,
                scopes: BTreeSet::new(),
                rate: None,
                cost: 1,
                guardrail: ToolModes::default(),
                approval: ApprovalMode::None,
            });
            approval = approval.max(rule.approval);
            d.guardrail = d.guardrail.strictest(rule.guardrail);
            d.named_exactly |= kind == MatchKind::Exact;
            d.read_only &= rule.read_only;
            d.scopes.extend(rule.scopes.iter().cloned());
            d.cost = d.cost.max(rule.cost);
            d.rate = match (d.rate, rule.rate) {
                (Some(a), Some(b)) => Some(
                    if a.count as f64 / a.per.as_secs_f64() <= b.count as f64 / b.per.as_secs_f64()
                    {
                        a
                    } else {
                        b
                    },
                ),
                (a, b) => a.or(b),
            };
        }
        if let Some(d) = &mut decision {
            d.approval = approval.unwrap_or(ApprovalMode::default_for(d.read_only));
        }
        decision
    }

    /// Every scope some rule requires.
    pub fn scopes(&self) -> BTreeSet<String> {
        self.rules
            .iter()
            .flat_map(|r| r.scopes.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(upstream: &str, patterns: &[&str], read_only: bool) -> ExposeRule {
        ExposeRule {
            upstream: upstream.into(),
            patterns: patterns
                .iter()
                .map(|p| ToolPattern::parse(p).unwrap())
                .collect(),
            read_only,
            scopes: BTreeSet::new(),
            rate: None,
            cost: 1,
            guardrail: ToolModes::default(),
            approval: None,
        }
    }

    #[test]
    fn scopes_of_every_matching_rule_are_required() {
        let mut a = rule("a", &["*"], true);
        a.scopes.insert("read".into());
        let mut b = rule("a", &["refund"], false);
        b.scopes.insert("write".into());
        let e = Exposure::new(vec![a, b]);
        let scopes: Vec<String> = e
            .decide("a", "refund")
            .unwrap()
            .scopes
            .into_iter()
            .collect();
        assert_eq!(scopes, ["read", "write"]);
        assert_eq!(e.decide("a", "echo").unwrap().scopes.len(), 1);
    }

    #[test]
    fn nothing_is_exposed_without_a_rule() {
        let e = Exposure::new(vec![rule("a", &["echo"], true)]);
        assert!(e.decide("a", "other").is_none());
        assert!(e.decide("b", "echo").is_none());
        assert!(e.decide("a", "echo").is_some());
    }

    #[test]
    fn matching_is_exact_case() {
        let e = Exposure::new(vec![rule("a", &["echo", "get_*"], true)]);
        assert!(e.decide("a", "Echo").is_none());
        assert!(e.decide("a", "GET_invoice").is_none());
        assert!(e.decide("a", "get_invoice").is_some());
    }

    #[test]
    fn globs_and_exact_names_are_told_apart() {
        let e = Exposure::new(vec![
            rule("a", &["get_*"], true),
            rule("a", &["get_x"], true),
        ]);
        assert_eq!(
            e.decide("a", "get_y"),
            Some(ExposureDecision {
                named_exactly: false,
                read_only: true,
                scopes: BTreeSet::new(),
                rate: None,
                cost: 1,
                guardrail: ToolModes::default(),
                approval: ApprovalMode::None,
            })
        );
        assert!(e.decide("a", "get_x").unwrap().named_exactly);
    }

    #[test]
    fn route_patterns_keep_their_braces_literal() {
        let e = Exposure::new(vec![rule(
            "a",
            &["GET /items/{id}", "DELETE /items/*"],
            false,
        )]);
        assert!(e.decide_any("a", &["x", "GET /items/{id}"]).is_some());
        assert!(e.decide_any("a", &["x", "GET /items/id"]).is_none());
        assert!(e.decide_any("a", &["y", "DELETE /items/{id}"]).is_some());
        assert!(e.decide_any("a", &["y", "POST /items"]).is_none());
    }

    #[test]
    fn the_most_cautious_rule_wins() {
        let e = Exposure::new(vec![rule("a", &["*"], true), rule("a", &["refund"], false)]);
        assert!(!e.decide("a", "refund").unwrap().read_only);
        assert!(e.decide("a", "echo").unwrap().read_only);
    }
}

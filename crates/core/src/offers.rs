//! What upstreams offer besides tools — resources, resource templates and prompts — and which
//! of it is published. Deny by default, like tools: a resource or template is published only
//! when a `[[resources]]` entry for its upstream matches its URI (or URI template), a prompt
//! only when a `[[prompts]]` entry names it. Resources are read-only by nature.
//!
//! # Names
//!
//! - A prompt is published as `<prefix><name>`, like a tool. Two that would share a name are
//!   not published.
//! - A resource keeps its URI, and a template its URI template, when no other upstream
//!   publishes the same one. When several do, each is published under its upstream's name, as
//!   `<upstream>+<uri>` (`docs+file:///readme.md`; still a URI: `+` may appear in a scheme), so
//!   two upstreams' URIs can never be confused.
//! - A concrete URI is readable when it is a published resource's, or when it matches a
//!   published template (RFC 6570 expressions). One that matches the templates of two
//!   upstreams is refused as ambiguous.
//!
//! Each published item is carried as a [`PublishedTool`] (its name, upstream, the upstream's
//! name for it, its scopes), so authorization, limits, the guardrail and redaction treat it
//! exactly as they treat a tool.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use globset::{GlobBuilder, GlobMatcher};
use regex::Regex;
use serde_json::{Map, Value};

use crate::approval::ApprovalMode;
use crate::catalogue::PublishedTool;
use crate::exposure::ToolPattern;
use crate::guardrail::ToolModes;

/// A URI or URI-template pattern from a `[[resources]]` entry: exact, or a glob in which `*`
/// crosses `/` and braces are literal (they belong to URI templates).
#[derive(Debug, Clone)]
pub struct UriPattern {
    text: String,
    glob: Option<GlobMatcher>,
}

impl UriPattern {
    pub fn parse(text: &str) -> Result<UriPattern, String> {
        if text.is_empty() {
            return Err("empty URI pattern".into());
        }
        let glob = if text.contains(['*', '?', '[']) {
            let pattern = text.replace('{', "[{]").replace('}', "[}]");
            let glob = GlobBuilder::new(&pattern)
                .literal_separator(false)
                .build()
                .map_err(|e| format!("`{text}` is not a valid glob: {e}"))?;
            Some(glob.compile_matcher())
        } else {
            None
        };
        Ok(UriPattern {
            text: text.to_string(),
            glob,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn matches(&self, uri: &str) -> bool {
        match &self.glob {
            Some(glob) => glob.is_match(uri),
            None => self.text == uri,
        }
    }
}

/// One `[[resources]]` entry.
#[derive(Debug, Clone)]
pub struct ResourceRule {
    pub upstream: String,
    pub uris: Vec<UriPattern>,
    pub scopes: BTreeSet<String>,
}

/// One `[[prompts]]` entry.
#[derive(Debug, Clone)]
pub struct PromptRule {
    pub upstream: String,
    pub prompts: Vec<ToolPattern>,
    pub scopes: BTreeSet<String>,
}

/// The `[[resources]]` and `[[prompts]]` entries.
#[derive(Debug, Clone, Default)]
pub struct OfferRules {
    pub resources: Vec<ResourceRule>,
    pub prompts: Vec<PromptRule>,
}

impl OfferRules {
    /// Whether any entry publishes resources, or prompts, of `upstream`.
    pub fn wants(&self, upstream: &str) -> (bool, bool) {
        (
            self.resources.iter().any(|r| r.upstream == upstream),
            self.prompts.iter().any(|r| r.upstream == upstream),
        )
    }

    /// The scopes of every entry matching `name` of `upstream`, or `None` when none does.
    fn resource_scopes(&self, upstream: &str, uri: &str) -> Option<BTreeSet<String>> {
        let mut matched = false;
        let mut scopes = BTreeSet::new();
        for rule in self.resources.iter().filter(|r| r.upstream == upstream) {
            if rule.uris.iter().any(|p| p.matches(uri)) {
                matched = true;
                scopes.extend(rule.scopes.iter().cloned());
            }
        }
        matched.then_some(scopes)
    }

    fn prompt_scopes(&self, upstream: &str, name: &str) -> Option<BTreeSet<String>> {
        let mut matched = false;
        let mut scopes = BTreeSet::new();
        for rule in self.prompts.iter().filter(|r| r.upstream == upstream) {
            if rule.prompts.iter().any(|p| p.matches_name(name)) {
                matched = true;
                scopes.extend(rule.scopes.iter().cloned());
            }
        }
        matched.then_some(scopes)
    }
}

/// The resources, templates and prompts one upstream listed.
#[derive(Debug, Clone, Default)]
pub struct OfferListing {
    pub upstream: String,
    /// Put before its prompt names.
    pub prefix: String,
    pub resources: Vec<Value>,
    pub templates: Vec<Value>,
    pub prompts: Vec<Value>,
}

/// A published resource template, with the matcher for the URIs it stands for.
#[derive(Debug, Clone)]
pub struct PublishedTemplate {
    pub item: PublishedTool,
    /// Matches the published form of a concrete URI.
    matcher: Regex,
    /// What the published form has before the upstream's URI (`<upstream>+`, or nothing).
    rename: String,
}

/// Something published that is not a tool, and how to reach it upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved<'a> {
    pub item: &'a PublishedTool,
    /// The URI, or prompt name, to send upstream.
    pub upstream_name: String,
}

/// Why a URI cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    NotPublished,
    /// It matches the published templates of several upstreams.
    Ambiguous(Vec<String>),
}

/// Everything published besides tools, in a deterministic order.
#[derive(Debug, Clone, Default)]
pub struct Offers {
    /// Sorted by published URI.
    resources: Vec<PublishedTool>,
    resource_index: HashMap<String, usize>,
    templates: Vec<PublishedTemplate>,
    prompts: Vec<PublishedTool>,
    prompt_index: HashMap<String, usize>,
}

/// An item as the pipeline sees it: read-only, never approved, the gateway's guardrail modes.
fn item(
    name: String,
    upstream: &str,
    upstream_name: &str,
    scopes: BTreeSet<String>,
    definition: Value,
) -> PublishedTool {
    PublishedTool {
        name,
        upstream: upstream.to_string(),
        upstream_tool: upstream_name.to_string(),
        read_only: true,
        scopes,
        rate: None,
        cost: 1,
        guardrail: ToolModes::default(),
        approval: ApprovalMode::None,
        definition,
    }
}

fn with_field(definition: &Map<String, Value>, field: &str, value: &str) -> Value {
    let mut definition = definition.clone();
    definition.insert(field.into(), Value::String(value.into()));
    Value::Object(definition)
}

/// A listed resource or template a rule publishes, before it is named.
struct Candidate<'a> {
    upstream: &'a str,
    /// Its URI, or URI template, at the upstream.
    uri: String,
    definition: Map<String, Value>,
    scopes: BTreeSet<String>,
}

/// The URIs that more than one upstream publishes.
fn shared(candidates: &[Candidate<'_>]) -> BTreeSet<String> {
    let mut upstreams: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for c in candidates {
        upstreams
            .entry(c.uri.as_str())
            .or_default()
            .insert(c.upstream);
    }
    upstreams
        .into_iter()
        .filter(|(_, u)| u.len() > 1)
        .map(|(uri, _)| uri.to_string())
        .collect()
}

impl Offers {
    pub fn build(rules: &OfferRules, listings: &[OfferListing]) -> Offers {
        let mut resources = Vec::new();
        let mut templates = Vec::new();
        let mut prompts: BTreeMap<String, Vec<PublishedTool>> = BTreeMap::new();
        for listing in listings {
            let upstream = listing.upstream.as_str();
            let named = |defs: &[Value], field: &str| -> Vec<(String, Map<String, Value>)> {
                defs.iter()
                    .filter_map(|d| {
                        let obj = d.as_object()?;
                        let value = obj.get(field)?.as_str()?.to_string();
                        Some((value, obj.clone()))
                    })
                    .collect()
            };
            let candidates = |defs: &[Value], field: &str| -> Vec<Candidate<'_>> {
                named(defs, field)
                    .into_iter()
                    .filter_map(|(uri, definition)| {
                        let scopes = rules.resource_scopes(upstream, &uri)?;
                        Some(Candidate {
                            upstream,
                            uri,
                            definition,
                            scopes,
                        })
                    })
                    .collect()
            };
            resources.extend(candidates(&listing.resources, "uri"));
            templates.extend(candidates(&listing.templates, "uriTemplate"));
            for (name, def) in named(&listing.prompts, "name") {
                if let Some(scopes) = rules.prompt_scopes(upstream, &name) {
                    let published = format!("{}{name}", listing.prefix);
                    let definition = with_field(&def, "name", &published);
                    prompts
                        .entry(published.clone())
                        .or_default()
                        .push(item(published, upstream, &name, scopes, definition));
                }
            }
        }
        let mut offers = Offers::default();
        let shared_uris = shared(&resources);
        for c in resources {
            let published = if shared_uris.contains(&c.uri) {
                format!("{}+{}", c.upstream, c.uri)
            } else {
                c.uri.clone()
            };
            let definition = with_field(&c.definition, "uri", &published);
            offers
                .resources
                .push(item(published, c.upstream, &c.uri, c.scopes, definition));
        }
        offers.resources.sort_by(|a, b| a.name.cmp(&b.name));
        offers.resources.dedup_by(|a, b| a.name == b.name);
        offers.resource_index = index(&offers.resources);
        let shared_templates = shared(&templates);
        for c in templates {
            let rename = if shared_templates.contains(&c.uri) {
                format!("{}+", c.upstream)
            } else {
                String::new()
            };
            let published = format!("{rename}{}", c.uri);
            let Some(matcher) = template_matcher(&published) else {
                continue;
            };
            let definition = with_field(&c.definition, "uriTemplate", &published);
            offers.templates.push(PublishedTemplate {
                item: item(published, c.upstream, &c.uri, c.scopes, definition),
                matcher,
                rename,
            });
        }
        offers
            .templates
            .sort_by(|a, b| a.item.name.cmp(&b.item.name));
        offers.templates.dedup_by(|a, b| a.item.name == b.item.name);
        for (_, mut same) in prompts {
            // Two prompts under one name: neither is published.
            if same.len() == 1 {
                offers.prompts.extend(same.pop());
            }
        }
        offers.prompt_index = index(&offers.prompts);
        offers
    }

    /// Keeps only the items `keep` accepts (resources, templates and prompts alike).
    pub fn retain(&mut self, mut keep: impl FnMut(&PublishedTool) -> bool) {
        self.resources.retain(&mut keep);
        self.templates.retain(|t| keep(&t.item));
        self.prompts.retain(&mut keep);
        self.resource_index = index(&self.resources);
        self.prompt_index = index(&self.prompts);
    }

    /// Every published item: resources, templates, prompts.
    pub fn items(&self) -> impl Iterator<Item = &PublishedTool> {
        self.resources
            .iter()
            .chain(self.templates())
            .chain(self.prompts.iter())
    }

    pub fn resources(&self) -> &[PublishedTool] {
        &self.resources
    }

    pub fn templates(&self) -> impl Iterator<Item = &PublishedTool> {
        self.templates.iter().map(|t| &t.item)
    }

    pub fn prompts(&self) -> &[PublishedTool] {
        &self.prompts
    }

    pub fn prompt(&self, name: &str) -> Option<&PublishedTool> {
        self.prompt_index.get(name).map(|&i| &self.prompts[i])
    }

    /// The published template written exactly `template` (for completions).
    pub fn template(&self, template: &str) -> Option<&PublishedTool> {
        self.templates().find(|t| t.name == template)
    }

    /// Whether anything is published.
    pub fn has_resources(&self) -> bool {
        !self.resources.is_empty() || !self.templates.is_empty()
    }

    /// The published resource or template a concrete `uri` reads, and the upstream's URI.
    pub fn resolve(&self, uri: &str) -> Result<Resolved<'_>, Unresolved> {
        if let Some(&i) = self.resource_index.get(uri) {
            let item = &self.resources[i];
            return Ok(Resolved {
                item,
                upstream_name: item.upstream_tool.clone(),
            });
        }
        let matching: Vec<&PublishedTemplate> = self
            .templates
            .iter()
            .filter(|t| t.matcher.is_match(uri))
            .collect();
        let upstreams: BTreeSet<&str> = matching.iter().map(|t| t.item.upstream.as_str()).collect();
        match (matching.first(), upstreams.len()) {
            (Some(template), 1) => Ok(Resolved {
                item: &template.item,
                upstream_name: uri[template.rename.len()..].to_string(),
            }),
            (None, _) => Err(Unresolved::NotPublished),
            _ => Err(Unresolved::Ambiguous(
                upstreams.into_iter().map(str::to_string).collect(),
            )),
        }
    }

    /// How a URI that `upstream` wrote (in a resource link, an embedded resource, a read's
    /// contents) reads through the gateway: its published form when it is published, else
    /// `None`.
    pub fn published_uri(&self, upstream: &str, uri: &str) -> Option<String> {
        if let Some(r) = self
            .resources
            .iter()
            .find(|r| r.upstream == upstream && r.upstream_tool == uri)
        {
            return Some(r.name.clone());
        }
        self.templates
            .iter()
            .filter(|t| t.item.upstream == upstream)
            .map(|t| format!("{}{uri}", t.rename))
            .find(|published| {
                self.resolve(published)
                    .is_ok_and(|r| r.item.upstream == upstream)
            })
    }
}

fn index(items: &[PublishedTool]) -> HashMap<String, usize> {
    items
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect()
}

/// A matcher for the URIs an RFC 6570 template expands to: literal text exactly; `{var}`, a
/// value without `/`, `?` or `#`; `{+var}` and `{#var}`, anything; `{/var}`, `{.var}`,
/// `{;var}`, path-like parts; `{?var}` and `{&var}`, a query. `None` for a template whose
/// braces do not pair.
pub fn template_matcher(template: &str) -> Option<Regex> {
    let mut pattern = String::from("^");
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let (literal, tail) = rest.split_at(open);
        if literal.contains('}') {
            return None;
        }
        pattern.push_str(&regex::escape(literal));
        let close = tail.find('}')?;
        let expression = &tail[1..close];
        pattern.push_str(match expression.chars().next()? {
            '+' | '#' => "(?:.*)",
            '/' => "(?:/[^/?#]*)*",
            '.' => "(?:\\.[^/?#]*)*",
            ';' => "(?:;[^/?#]*)*",
            '?' | '&' => "(?:[?&][^#]*)?",
            _ => "(?:[^/?#]*)",
        });
        rest = &tail[close + 1..];
    }
    if rest.contains('}') {
        return None;
    }
    pattern.push_str(&regex::escape(rest));
    pattern.push('$');
    Regex::new(&pattern).ok()
}

#[cfg(test)]
mod tests;

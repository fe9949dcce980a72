//! Rules over calls: `[[rules]]` with a CEL condition and an effect, for what a tool's name
//! cannot say — "refunds over 100 € need a manager", "`query` may not contain `DROP`", "this
//! key only on weekdays".
//!
//! A condition sees:
//!
//! | variable | fields |
//! |---|---|
//! | `principal` | `id`, `kind` (`api_key`, `dev_key`, `oauth`, `anonymous`), `scopes` (a list), `claims` (an OAuth token's claims; `{}` for keys) |
//! | `tool` | `name` (published), `upstream`, `upstream_tool`, `read_only`, `destructive`, `annotations` (the definition's) |
//! | `args` | the call's arguments (a map; `{}` when there are none) |
//! | `request` | `transport` (`http`, `stdio`), `source` (the client's address, or `""`), `group` (or `""`) |
//! | `time` | `unix` (seconds), `hour` (0–23, UTC), `weekday` (0 = Sunday … 6), `date` (`"2026-12-01"`) |
//!
//! Conditions are CEL with the standard library and the string, list and math extensions
//! (`args.sql.upperAscii().contains('DROP')`, `'ops' in principal.scopes`).
//!
//! Effects: `deny` refuses the call, with the rule's reason; `approve` makes it wait for
//! approval (`approval = "operator"` by default, or `"user"`). Rules only narrow what exposure
//! and scopes allow: they are evaluated after authorization, and no effect grants anything. A
//! condition that fails to evaluate (a missing field, a type error) counts as matched for a
//! `deny` rule and denies the call for an `approve` rule: an error never lets a call through.
//! Rules whose condition does not read `args` also decide what `tools/list` shows: a tool such a
//! rule denies is hidden.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use cel::{Context, Env, Program, Value as Cel};
use serde_json::{Value, json};

use crate::approval::ApprovalMode;
use crate::catalogue::PublishedTool;
use crate::exposure::ToolPattern;
use crate::pipeline::Caller;

/// How the reason of a rule that could not be evaluated begins (the gateway logs those).
pub const UNEVALUATED: &str = "the rule could not be evaluated";

/// What a rule does when its condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Deny,
    /// The call waits for this kind of approval.
    Approve(ApprovalMode),
}

/// One compiled rule.
#[derive(Clone)]
pub struct Rule {
    /// `rules[i]`, or the rule's `name`.
    pub name: String,
    /// The published tools it applies to (all when empty).
    pub tools: Vec<ToolPattern>,
    pub when: String,
    program: Arc<Program>,
    env: Arc<Env>,
    pub effect: Effect,
    pub reason: String,
    /// Whether the condition reads `args` (rules that do not also filter `tools/list`).
    pub reads_arguments: bool,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("name", &self.name)
            .field("when", &self.when)
            .field("effect", &self.effect)
            .finish_non_exhaustive()
    }
}

/// The variables a condition may read.
pub const VARIABLES: [&str; 5] = ["principal", "tool", "args", "request", "time"];

impl Rule {
    /// Compiles `when`; the error says what is wrong, for the config's problem list.
    pub fn new(
        name: String,
        tools: Vec<ToolPattern>,
        when: &str,
        effect: Effect,
        reason: String,
    ) -> Result<Rule, String> {
        let env = environment()?;
        let program = env.compile(when).map_err(|e| {
            format!(
                "the condition does not compile: {}",
                one_line(&e.to_string())
            )
        })?;
        let references = program.references();
        if let Some(unknown) = references
            .variables()
            .into_iter()
            .find(|v| !VARIABLES.contains(v))
        {
            return Err(format!(
                "the condition reads `{unknown}`, which does not exist; it may read {}",
                VARIABLES.join(", ")
            ));
        }
        let reads_arguments = references.has_variable("args");
        Ok(Rule {
            name,
            tools,
            when: when.to_string(),
            program: Arc::new(program),
            env,
            effect,
            reason,
            reads_arguments,
        })
    }

    fn applies_to(&self, tool: &PublishedTool) -> bool {
        self.tools.is_empty() || self.tools.iter().any(|p| p.matches_name(&tool.name))
    }

    /// Whether the condition holds for `facts`; `Err` when it cannot be evaluated or is not a
    /// boolean.
    pub fn holds(&self, facts: &Facts<'_>) -> Result<bool, String> {
        let mut context = Context::with_env(self.env.clone());
        for (name, value) in facts.variables() {
            let value = cel::to_value(value).map_err(|e| e.to_string())?;
            context.add_variable_from_value(name, value);
        }
        match self.program.execute(&context) {
            Ok(Cel::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("the condition gave {other:?}, not true or false")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// What a rule may know of a call.
pub struct Facts<'a> {
    pub caller: &'a Caller,
    pub tool: &'a PublishedTool,
    /// `None` when listing tools (then only rules that do not read `args` are evaluated).
    pub arguments: Option<&'a Value>,
    /// Unix milliseconds.
    pub now: u64,
}

impl Facts<'_> {
    fn variables(&self) -> [(&'static str, Value); 5] {
        let p = &self.caller.principal;
        let secs = self.now / 1000;
        let days = secs / 86_400;
        let date = crate::audit::rfc3339(self.now);
        [
            (
                "principal",
                json!({"id": p.id, "kind": p.kind.as_str(), "scopes": p.scopes,
                    "claims": if p.claims.is_object() { p.claims.clone() } else { json!({}) }}),
            ),
            (
                "tool",
                json!({
                    "name": self.tool.name,
                    "upstream": self.tool.upstream,
                    "upstream_tool": self.tool.upstream_tool,
                    "read_only": self.tool.read_only,
                    "destructive": !self.tool.read_only,
                    "annotations": self.tool.definition.get("annotations").cloned().unwrap_or(json!({})),
                }),
            ),
            (
                "args",
                self.arguments
                    .cloned()
                    .filter(Value::is_object)
                    .unwrap_or(json!({})),
            ),
            (
                "request",
                json!({
                    "transport": self.caller.transport,
                    "source": self.caller.source.map(|s| s.to_string()).unwrap_or_default(),
                    "group": self.caller.group.clone().unwrap_or_default(),
                }),
            ),
            (
                "time",
                json!({
                    "unix": secs,
                    "hour": (secs % 86_400) / 3600,
                    // 1970-01-01 was a Thursday.
                    "weekday": (days + 4) % 7,
                    "date": date.get(..10).unwrap_or_default(),
                }),
            ),
        ]
    }
}

/// What the rules decided about one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No rule matched (or only rules that do not apply).
    Pass,
    Deny {
        rule: String,
        reason: String,
    },
    /// The call waits for `mode` approval (the strictest asked for).
    Approve {
        rule: String,
        mode: ApprovalMode,
    },
}

/// The configured rules, in order.
#[derive(Debug, Clone, Default)]
pub struct Rules(pub Vec<Rule>);

impl Rules {
    /// The verdict on a call: the first `deny` that holds wins; else the strictest `approve`.
    /// A rule that cannot be evaluated denies, saying why ([`UNEVALUATED`]).
    pub fn decide(&self, facts: &Facts<'_>) -> Verdict {
        let mut approve: Option<(String, ApprovalMode)> = None;
        for rule in self.0.iter().filter(|r| r.applies_to(facts.tool)) {
            if facts.arguments.is_none() && rule.reads_arguments {
                continue;
            }
            match (rule.holds(facts), rule.effect) {
                (Ok(false), _) => {}
                (Ok(true), Effect::Deny) => {
                    return Verdict::Deny {
                        rule: rule.name.clone(),
                        reason: rule.reason.clone(),
                    };
                }
                (Ok(true), Effect::Approve(mode)) => {
                    if approve.as_ref().is_none_or(|(_, m)| mode > *m) {
                        approve = Some((rule.name.clone(), mode));
                    }
                }
                (Err(error), _) => {
                    return Verdict::Deny {
                        rule: rule.name.clone(),
                        reason: format!("{UNEVALUATED} ({error})"),
                    };
                }
            }
        }
        match approve {
            Some((rule, mode)) => Verdict::Approve { rule, mode },
            None => Verdict::Pass,
        }
    }

    /// Whether `tools/list` hides `tool` from `caller`: a rule that does not read `args`
    /// denies it.
    pub fn hides(&self, caller: &Caller, tool: &PublishedTool, now: u64) -> bool {
        let facts = Facts {
            caller,
            tool,
            arguments: None,
            now,
        };
        matches!(self.decide(&facts), Verdict::Deny { .. })
    }

    /// The rule names, for `explain`.
    pub fn names(&self) -> BTreeSet<&str> {
        self.0.iter().map(|r| r.name.as_str()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The standard CEL environment with the string, list and math extensions
/// (`'x'.upperAscii()`, `list.distinct()`, `math.greatest(…)`), built once.
fn environment() -> Result<Arc<Env>, String> {
    static ENV: std::sync::OnceLock<Result<Arc<Env>, String>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        for extension in [
            cel::extensions::strings as fn(&mut Env) -> _,
            cel::extensions::lists,
            cel::extensions::math,
        ] {
            env.add_extension(extension)
                .map_err(|e| format!("a CEL extension does not load: {e}"))?;
        }
        Ok(Arc::new(env))
    })
    .clone()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;

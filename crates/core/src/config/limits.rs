//! `[limits]`: rate limits and budgets, per caller, per tool, per caller and tool, global, and
//! for refused credentials. Secure defaults: 60/min per caller, 10/min per caller and tool,
//! 30/min refused credentials per address.

use super::*;

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawLimits {
    pub(super) per_caller: Option<String>,
    pub(super) per_caller_tool: Option<String>,
    pub(super) per_tool: Option<String>,
    pub(super) global: Option<String>,
    pub(super) budget: Option<String>,
    pub(super) unauthenticated: Option<String>,
}

/// `[limits]`: rate limits and budgets. Each is `COUNT/UNIT`, or `"off"`.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitSettings {
    /// Calls per caller. Default 60/min.
    pub per_caller: Option<Rate>,
    /// Calls per caller to one tool (a tool's own `rate` replaces it). Default 10/min.
    pub per_caller_tool: Option<Rate>,
    /// Calls to one tool from everyone. Default off.
    pub per_tool: Option<Rate>,
    /// Calls through the gateway. Default off.
    pub global: Option<Rate>,
    /// Cost units per caller (each tool's `cost`, default 1). Default off.
    pub budget: Option<Rate>,
    /// Refused credentials per client address; past it, 429. Default 30/min.
    pub unauthenticated: Option<Rate>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let rate = |count, secs| {
            Some(Rate {
                count,
                per: Duration::from_secs(secs),
            })
        };
        LimitSettings {
            per_caller: rate(60, 60),
            per_caller_tool: rate(10, 60),
            per_tool: None,
            global: None,
            budget: None,
            unauthenticated: rate(30, 60),
        }
    }
}

pub(super) fn limit_settings(raw: RawLimits, p: &mut Problems<'_>) -> LimitSettings {
    let defaults = LimitSettings::default();
    let mut one = |key: &str, text: Option<String>, default: Option<Rate>| match text.as_deref() {
        None => default,
        Some("off") => None,
        Some(t) => match Rate::parse(t) {
            Ok(rate) => Some(rate),
            Err(msg) => {
                p.add(format!("limits.{key}"), format!("{msg}, or \"off\""));
                default
            }
        },
    };
    LimitSettings {
        per_caller: one("per_caller", raw.per_caller, defaults.per_caller),
        per_caller_tool: one(
            "per_caller_tool",
            raw.per_caller_tool,
            defaults.per_caller_tool,
        ),
        per_tool: one("per_tool", raw.per_tool, defaults.per_tool),
        global: one("global", raw.global, defaults.global),
        budget: one("budget", raw.budget, defaults.budget),
        unauthenticated: one(
            "unauthenticated",
            raw.unauthenticated,
            defaults.unauthenticated,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::problems;

    #[test]
    fn limits_default_to_limiting_every_caller_and_reject_bad_rates() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.limits, LimitSettings::default());
        assert_eq!(c.limits.per_caller.unwrap().count, 60);
        let c = Config::from_toml("[limits]\nper_caller = \"off\"\nglobal = \"5/s\"").unwrap();
        assert!(c.limits.per_caller.is_none());
        assert_eq!(c.limits.global.unwrap().count, 5);
        let p = problems(
            r#"
            [limits]
            per_caller = "0/min"
            budget = "lots"
            [upstreams.a]
            kind = "stdio"
            command = "x"
            [[expose]]
            upstream = "a"
            tools = ["t"]
            read_only = true
            rate = "-1/min"
            cost = 0
            "#,
        );
        let joined = p.join("\n");
        for needle in [
            "limits.per_caller:",
            "limits.budget:",
            "expose[0].rate:",
            "expose[0].cost:",
        ] {
            assert!(joined.contains(needle), "{needle} missing in {joined}");
        }
    }
}

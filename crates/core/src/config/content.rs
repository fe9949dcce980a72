//! `[guardrail]` and `[redaction]`: the prompt-injection modes for arguments and results, the
//! alert webhook, and what is masked in what goes back to the client.

use super::*;
use crate::guardrail::scorer::{Scorer, Thresholds};
use crate::redact::OPT_IN;

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawGuardrail {
    pub(super) arguments: Option<String>,
    pub(super) results: Option<String>,
    pub(super) disable_rules: Option<Vec<String>>,
    pub(super) webhook: Option<String>,
    pub(super) scorer: Option<RawScorer>,
}

/// `[guardrail.scorer]`: the learned scorer beside the rules.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawScorer {
    pub(super) enabled: Option<bool>,
    pub(super) block: Option<f64>,
    pub(super) warn: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawToolModes {
    pub(super) arguments: Option<String>,
    pub(super) results: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawRedaction {
    pub(super) keys: Option<Vec<String>>,
    pub(super) default_keys: Option<bool>,
    pub(super) disable: Option<Vec<String>>,
    pub(super) detect: Option<Vec<String>>,
    pub(super) patterns: Option<Vec<RawPattern>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawPattern {
    pub(super) name: String,
    pub(super) regex: String,
}

/// `[guardrail]`: prompt-injection scanning of arguments and results.
#[derive(Debug, Clone)]
pub struct GuardrailSettings {
    /// Mode for arguments, unless a tool sets its own. Default block.
    pub arguments: Mode,
    /// Mode for results. Default block.
    pub results: Mode,
    /// Where `alert` findings are POSTed as JSON, if anywhere.
    pub webhook: Option<String>,
    /// The compiled rules.
    pub engine: Arc<Guardrail>,
}

pub(super) fn mode(text: Option<String>, path: &str, p: &mut Problems<'_>) -> Option<Mode> {
    match Mode::parse(text.as_deref()?) {
        Ok(mode) => Some(mode),
        Err(msg) => {
            p.add(path, msg);
            None
        }
    }
}

pub(super) fn guardrail_settings(
    raw: RawGuardrail,
    p: &mut Problems<'_>,
) -> Option<GuardrailSettings> {
    let arguments = mode(raw.arguments, "guardrail.arguments", p).unwrap_or(Mode::Block);
    let results = mode(raw.results, "guardrail.results", p).unwrap_or(Mode::Block);
    if let Some(url) = &raw.webhook
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        p.add(
            "guardrail.webhook",
            "give an http:// or https:// URL to POST alerts to",
        );
    }
    let scorer = scorer(raw.scorer.unwrap_or_default(), p);
    match Guardrail::new(&raw.disable_rules.unwrap_or_default()) {
        Ok(engine) => Some(GuardrailSettings {
            arguments,
            results,
            webhook: raw.webhook,
            engine: Arc::new(engine.with_scorer(scorer?)),
        }),
        Err(e) => {
            p.add(
                "guardrail.disable_rules",
                format!("{e}; `portcullis eval guardrail --rules` lists them"),
            );
            None
        }
    }
}

/// The scorer and its thresholds (the calibrated ones unless the config sets them), `Some(None)`
/// when it is switched off, `None` when the settings are wrong.
fn scorer(raw: RawScorer, p: &mut Problems<'_>) -> Option<Option<(Arc<Scorer>, Thresholds)>> {
    if raw.enabled == Some(false) {
        return Some(None);
    }
    let model = match Guardrail::built_in_scorer() {
        Ok(model) => model,
        Err(e) => {
            p.add(
                "guardrail.scorer",
                format!("the built-in model does not load: {e}"),
            );
            return None;
        }
    };
    let mut ok = true;
    let mut threshold = |value: Option<f64>, name: &str, default: f32| -> f32 {
        match value {
            Some(v) if (0.0..=1.0).contains(&v) => v as f32,
            Some(v) => {
                p.add(
                    format!("guardrail.scorer.{name}"),
                    format!("`{v}` is not a score; give a number from 0 to 1"),
                );
                ok = false;
                default
            }
            None => default,
        }
    };
    let block = threshold(raw.block, "block", model.calibrated.block);
    let warn = threshold(raw.warn, "warn", model.calibrated.warn.min(block));
    if ok && warn > block {
        p.add(
            "guardrail.scorer.warn",
            format!("the warn threshold ({warn}) is above the block threshold ({block}); lower it"),
        );
        ok = false;
    }
    ok.then_some(Some((model, Thresholds { block, warn })))
}

pub(super) fn redaction(raw: RawRedaction, p: &mut Problems<'_>) -> Option<Arc<Redactor>> {
    let mut patterns = Vec::new();
    for (i, pat) in raw.patterns.unwrap_or_default().into_iter().enumerate() {
        if pat.name.is_empty()
            || !pat
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            p.add(
                format!("redaction.patterns[{i}].name"),
                "use ASCII letters, digits and `_` (it names the mask)",
            );
        }
        if let Err(e) = regex::Regex::new(&pat.regex) {
            p.add(
                format!("redaction.patterns[{i}].regex"),
                format!("not a valid pattern: {e}"),
            );
            continue;
        }
        patterns.push((pat.name, pat.regex));
    }
    let mut detect = raw.detect.unwrap_or_default();
    detect.retain(|d| {
        let known = OPT_IN.iter().any(|(name, _)| name == d);
        if !known {
            let names: Vec<&str> = OPT_IN.iter().map(|(name, _)| *name).collect();
            p.add(
                "redaction.detect",
                format!("unknown detector `{d}`; it takes {}", names.join(", ")),
            );
        }
        known
    });
    let settings = RedactionSettings {
        keys: raw.keys.unwrap_or_default(),
        default_keys: raw.default_keys.unwrap_or(true),
        disabled: raw.disable.unwrap_or_default(),
        detect,
        patterns,
    };
    match Redactor::new(&settings) {
        Ok(r) => Some(Arc::new(r)),
        Err(e) => {
            p.add("redaction", e);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::problems;

    #[test]
    fn redaction_settings_are_checked() {
        let p = problems(
            r#"
            [redaction]
            disable = ["phone", "telepathy"]
            detect = ["names", "faces"]
            [[redaction.patterns]]
            name = "bad name"
            regex = "("
            "#,
        );
        let joined = p.join("\n");
        assert!(joined.contains("redaction.patterns[0].name:"), "{joined}");
        assert!(
            joined.contains("redaction.patterns[0].regex: not a valid pattern"),
            "{joined}"
        );
        assert!(
            joined.contains("redaction: unknown detector `telepathy`"),
            "{joined}"
        );
        assert!(
            joined
                .contains("redaction.detect: unknown detector `faces`; it takes addresses, names"),
            "{joined}"
        );
    }

    #[test]
    fn guardrail_defaults_to_block_and_bad_settings_are_named() {
        let config = Config::from_toml("").unwrap();
        assert_eq!(config.guardrail.arguments, Mode::Block);
        assert_eq!(config.guardrail.results, Mode::Block);
        let joined = problems(
            r#"
            [upstreams.a]
            kind = "stdio"
            command = "x"
            [[expose]]
            upstream = "a"
            tools = ["t"]
            read_only = true
            guardrail = { results = "loud" }
            [guardrail]
            arguments = "shout"
            webhook = "ftp://alerts"
            disable_rules = ["no.such.rule"]
            "#,
        )
        .join("\n");
        for expected in [
            "expose[0].guardrail.results: `loud` is not a mode",
            "guardrail.arguments: `shout` is not a mode",
            "guardrail.webhook:",
            "guardrail.disable_rules: unknown guardrail rule `no.such.rule`",
        ] {
            assert!(joined.contains(expected), "{expected} not in {joined}");
        }
    }

    #[test]
    fn the_scorer_is_on_at_its_calibrated_thresholds_unless_the_config_says_otherwise() {
        let model = Guardrail::built_in_scorer().unwrap();
        let config = Config::from_toml("").unwrap();
        let (_, t) = config.guardrail.engine.scorer().unwrap();
        assert_eq!(*t, model.calibrated);
        let config = Config::from_toml("[guardrail.scorer]\nblock = 0.97\nwarn = 0.5").unwrap();
        let (_, t) = config.guardrail.engine.scorer().unwrap();
        assert_eq!((t.block, t.warn), (0.97, 0.5));
        let config = Config::from_toml("[guardrail.scorer]\nenabled = false").unwrap();
        assert!(config.guardrail.engine.scorer().is_none());
        let joined =
            problems("[guardrail.scorer]\nblock = 1.5\nwarn = 0.2\nblind = true").join("\n");
        assert!(
            joined.contains("guardrail.scorer.block: `1.5` is not a score"),
            "{joined}"
        );
        assert!(
            joined.contains("guardrail.scorer.blind: unknown key"),
            "{joined}"
        );
        let joined = problems("[guardrail.scorer]\nblock = 0.3\nwarn = 0.6").join("\n");
        assert!(
            joined.contains("guardrail.scorer.warn: the warn threshold"),
            "{joined}"
        );
    }
}

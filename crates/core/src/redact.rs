//! Redaction: secrets and personal data taken out of everything that leaves through the gateway.
//!
//! One engine, two kinds of rule:
//!
//! - **Keys**: an object member whose name matches the key list (after normalising case and
//!   separators: `accessToken`, `access-token` and `ACCESS_TOKEN` are all `access_token`) has its
//!   value masked whatever its type, at any depth.
//! - **Values**: detectors find emails, phone numbers, US SSNs, payment cards (Luhn-checked, also
//!   when held as a JSON number), IBANs (checksum), JWTs, PEM private keys and well-known
//!   credential formats in any string, and custom patterns from the config.
//!
//! A mask names what it hid (`[redacted:email]`). JSON stays valid and keeps its shape: a
//! masked value becomes a string in the same place, and numbers that hide nothing stay numbers.
//! Patterns are compiled when the config loads, so a bad one stops the gateway from starting
//! rather than letting data through.

use std::borrow::Cow;
use std::collections::BTreeMap;

use globset::Glob;
use regex::{Regex, RegexSet};
use serde_json::{Map, Value};

/// Key names (normalised) masked by default.
pub const DEFAULT_KEYS: &[&str] = &[
    "password",
    "*_password",
    "passwd",
    "passphrase",
    "secret",
    "*_secret",
    "secret_key",
    "*_secret_key",
    "token",
    "*_token",
    "api_key",
    "*_api_key",
    "apikey",
    "private_key",
    "*_private_key",
    "session_id",
    "*_session_id",
    "sessionid",
    "cookie",
    "*_cookie",
    "authorization",
    "*_authorization",
    "credentials",
    "ssn",
    "card_number",
    "credit_card",
    "cvv",
    "cvc",
];

/// The built-in detectors, by name (the name is also the mask's kind).
pub const DETECTORS: &[&str] = &[
    "private_key",
    "jwt",
    "credential",
    "email",
    "iban",
    "card",
    "ssn",
    "phone",
];

/// How many values of each kind were masked.
pub type Counts = BTreeMap<String, u64>;

/// Confirms a match, given the match, the whole text and where the match starts.
type Check = fn(&str, &str, usize) -> bool;

struct Detector {
    kind: String,
    regex: Regex,
    /// Confirms a match (checksums, context); `None` accepts every match.
    check: Option<Check>,
}

/// A compiled set of redaction rules.
pub struct Redactor {
    /// Sensitive key names and globs, matched in one pass.
    keys: regex::bytes::RegexSet,
    detectors: Vec<Detector>,
    /// Every detector's pattern, to find in one pass which detectors a text needs at all.
    any: RegexSet,
    cards_in_numbers: bool,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("keys", &self.keys.len())
            .field(
                "detectors",
                &self
                    .detectors
                    .iter()
                    .map(|d| d.kind.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What the config asks of the engine.
#[derive(Debug, Clone, Default)]
pub struct RedactionSettings {
    /// Keys masked besides (or, without `default_keys`, instead of) [`DEFAULT_KEYS`].
    pub keys: Vec<String>,
    pub default_keys: bool,
    /// Built-in detectors switched off, by name.
    pub disabled: Vec<String>,
    /// Custom detectors: (kind, regex).
    pub patterns: Vec<(String, String)>,
}

impl RedactionSettings {
    pub fn defaults() -> RedactionSettings {
        RedactionSettings {
            default_keys: true,
            ..RedactionSettings::default()
        }
    }
}

fn built_in(name: &str) -> Option<(&'static str, Option<Check>)> {
    Some(match name {
        "private_key" => (
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
            None,
        ),
        "jwt" => (
            r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
            None,
        ),
        "credential" => (
            concat!(
                r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
                r"|\bgh[pousr]_[A-Za-z0-9]{36,255}\b",
                r"|\bgithub_pat_[A-Za-z0-9_]{22,255}\b",
                r"|\bglpat-[A-Za-z0-9_-]{20,}",
                r"|\bxox[abposr]-[A-Za-z0-9-]{10,}",
                r"|\b[rs]k_(?:live|test)_[A-Za-z0-9]{10,}",
                r"|\bAIza[0-9A-Za-z_-]{35}",
                r"|\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
                r"|\bhf_[A-Za-z0-9]{30,}",
                r"|\bpcs_[0-9a-f]{64}\b",
            ),
            None,
        ),
        "email" => (
            r"(?i)\b[a-z0-9._%+-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}\b",
            None,
        ),
        "iban" => (r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", Some(iban_ok)),
        "card" => (r"\b\d(?:[ -]?\d){12,18}\b", Some(card_ok)),
        "ssn" => (r"\b\d{3}-\d{2}-\d{4}\b|\b\d{3} \d{2} \d{4}\b", Some(ssn_ok)),
        "phone" => (
            concat!(
                r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}\b",
                r"|(?:\(\d{3}\) ?|\b\d{3}[ .-])\d{3}[ .-]\d{4}\b",
                r"|\b0\d{2,4}[ -]\d{3,4}[ -]\d{3,4}\b",
            ),
            Some(phone_ok),
        ),
        _ => return None,
    })
}

fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

fn luhn(d: &[u32]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn card_ok(m: &str, _: &str, _: usize) -> bool {
    let d = digits(m);
    (13..=19).contains(&d.len()) && luhn(&d) && d.iter().any(|&x| x != d[0])
}

fn iban_ok(m: &str, _: &str, _: usize) -> bool {
    let compact: String = m.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u64 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c {
            '0'..='9' => c as u64 - '0' as u64,
            'A'..='Z' => c as u64 - 'A' as u64 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Area 000 and 666 and group 00 and serial 0000 are never issued. (9xx areas are ITINs, which
/// are as personal as SSNs, so they are masked too.)
fn ssn_ok(m: &str, _: &str, _: usize) -> bool {
    let area = &m[0..3];
    area != "000" && area != "666" && &m[4..6] != "00" && &m[7..11] != "0000"
}

/// Words just before a number that say it is not a phone number.
const NOT_A_PHONE: &[&str] = &[
    "order",
    "invoice",
    "ref",
    "#",
    "tracking",
    "sku",
    "serial",
    "account no",
];

fn phone_ok(m: &str, text: &str, start: usize) -> bool {
    let d = digits(m);
    if !(9..=15).contains(&d.len()) {
        return false;
    }
    // A run of digit groups that goes on past the match is some longer number (an account, an
    // IBAN with a bad checksum), not a phone number.
    let end = start + m.len();
    let after = &text.as_bytes()[end..];
    let before = &text.as_bytes()[..start];
    let continues =
        |b: &[u8]| b.len() >= 2 && matches!(b[0], b' ' | b'-' | b'.') && b[1].is_ascii_digit();
    if continues(after)
        || (before.len() >= 2
            && matches!(before[before.len() - 1], b' ' | b'-' | b'.')
            && before[before.len() - 2].is_ascii_digit())
    {
        return false;
    }
    let mut from = start.saturating_sub(16);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let before = text[from..start].to_ascii_lowercase();
    !NOT_A_PHONE.iter().any(|w| before.contains(w))
}

/// `accessToken`, `Access-Token` and `ACCESS_TOKEN` all become `access_token`.
pub fn normalize_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev_lower_or_digit = false;
    for c in key.chars() {
        if c.is_uppercase() {
            if prev_lower_or_digit {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            prev_lower_or_digit = false;
        } else if c.is_alphanumeric() {
            out.push(c);
            prev_lower_or_digit = true;
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower_or_digit = false;
        }
    }
    out.trim_matches('_').to_string()
}

fn mask(kind: &str) -> String {
    format!("[redacted:{kind}]")
}

impl Redactor {
    /// Compiles the rules; an unknown detector name or a bad pattern is an error.
    pub fn new(settings: &RedactionSettings) -> Result<Redactor, String> {
        let mut keys = Vec::new();
        let defaults = if settings.default_keys {
            DEFAULT_KEYS
        } else {
            &[]
        };
        for k in defaults
            .iter()
            .map(|k| k.to_string())
            .chain(settings.keys.iter().map(|k| normalize_key(k)))
        {
            let glob = Glob::new(&k).map_err(|e| format!("key `{k}`: {e}"))?;
            keys.push(glob.regex().to_string());
        }
        // The globs as one regex set: a key is checked in one scan, without the allocations
        // a glob matcher makes for each candidate path.
        let keys =
            regex::bytes::RegexSet::new(keys).map_err(|e| format!("the keys together: {e}"))?;
        for d in &settings.disabled {
            if !DETECTORS.contains(&d.as_str()) {
                return Err(format!(
                    "unknown detector `{d}`; the detectors are {}",
                    DETECTORS.join(", ")
                ));
            }
        }
        let mut detectors = Vec::new();
        for name in DETECTORS
            .iter()
            .filter(|n| !settings.disabled.iter().any(|d| d == *n))
        {
            let (pattern, check) = built_in(name).ok_or_else(|| format!("no detector `{name}`"))?;
            let regex = Regex::new(pattern).map_err(|e| format!("detector `{name}`: {e}"))?;
            detectors.push(Detector {
                kind: name.to_string(),
                regex,
                check,
            });
        }
        for (kind, pattern) in &settings.patterns {
            let regex = Regex::new(pattern).map_err(|e| format!("pattern `{kind}`: {e}"))?;
            detectors.push(Detector {
                kind: kind.clone(),
                regex,
                check: None,
            });
        }
        let any = RegexSet::new(detectors.iter().map(|d| d.regex.as_str()))
            .map_err(|e| format!("the detectors together: {e}"))?;
        Ok(Redactor {
            keys,
            cards_in_numbers: !settings.disabled.iter().any(|d| d == "card"),
            detectors,
            any,
        })
    }

    fn is_sensitive_key(&self, key: &str) -> bool {
        let plain = key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if plain && !key.starts_with('_') && !key.ends_with('_') && !key.contains("__") {
            self.keys.is_match(key.as_bytes())
        } else {
            self.keys.is_match(normalize_key(key).as_bytes())
        }
    }

    /// Masks what the detectors find in `text`.
    pub fn redact_text<'a>(&self, text: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        let mut current: Cow<'a, str> = Cow::Borrowed(text);
        let candidates = self.any.matches(text);
        if !candidates.matched_any() {
            return current;
        }
        // Masks hold no digits, `@` or key-like runs, so a detector that found nothing in the
        // original text finds nothing after earlier detectors have masked parts of it.
        for d in candidates.iter().map(|i| &self.detectors[i]) {
            let source = current.as_ref();
            let mut out = String::new();
            let mut last = 0;
            let mut found = 0u64;
            for m in d.regex.find_iter(source) {
                if let Some(check) = d.check
                    && !check(m.as_str(), source, m.start())
                {
                    continue;
                }
                out.push_str(&source[last..m.start()]);
                out.push_str(&mask(&d.kind));
                last = m.end();
                found += 1;
            }
            if found > 0 {
                out.push_str(&source[last..]);
                *counts.entry(d.kind.clone()).or_default() += found;
                current = Cow::Owned(out);
            }
        }
        current
    }

    /// Masks, in place, every sensitive member and every detected value in `value`.
    pub fn redact_value(&self, value: &mut Value, counts: &mut Counts) {
        match value {
            Value::String(s) => {
                if let Cow::Owned(redacted) = self.redact_text(s, counts) {
                    *s = redacted;
                }
            }
            Value::Number(n) => {
                if self.cards_in_numbers
                    && let Some(u) = n.as_u64()
                {
                    let text = u.to_string();
                    if card_ok(&text, &text, 0) {
                        *value = Value::String(mask("card"));
                        *counts.entry("card".into()).or_default() += 1;
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v, counts)),
            Value::Object(members) => self.redact_object(members, counts),
            Value::Null | Value::Bool(_) => {}
        }
    }

    fn redact_object(&self, members: &mut Map<String, Value>, counts: &mut Counts) {
        for (key, v) in members.iter_mut() {
            if self.is_sensitive_key(key) && !matches!(v, Value::Null) {
                *v = Value::String(mask("secret"));
                *counts.entry("secret".into()).or_default() += 1;
            } else {
                self.redact_value(v, counts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn engine() -> Redactor {
        Redactor::new(&RedactionSettings::defaults()).unwrap()
    }

    fn text(s: &str) -> String {
        engine().redact_text(s, &mut Counts::new()).into_owned()
    }

    #[test]
    fn keys_match_after_normalising_case_and_separators() {
        for k in [
            "password",
            "db_password",
            "client_secret",
            "accessToken",
            "x-api-key",
            "private_key",
            "session_id",
            "cookie",
            "authorization",
            "ssn",
            "card_number",
            "refresh_token",
            "API_KEY",
            "Set-Cookie",
            "apiKey",
            "AWS_SECRET_ACCESS_KEY"
                .replace("ACCESS_KEY", "KEY")
                .as_str(),
        ] {
            assert!(engine().is_sensitive_key(k), "{k} not caught");
        }
        for k in [
            "name",
            "tokens",
            "max_tokens",
            "input_tokens",
            "description",
            "passage",
            "secretary",
        ] {
            assert!(!engine().is_sensitive_key(k), "{k} caught");
        }
        assert_eq!(normalize_key("XApiKey"), "xapi_key");
        assert_eq!(normalize_key("accessToken"), "access_token");
        assert_eq!(normalize_key("--Set Cookie--"), "set_cookie");
    }

    #[test]
    fn values_under_sensitive_keys_are_masked_whatever_their_type() {
        let mut v = json!({"api_key": "sk-live-deadbeef", "name": "ok", "nested": {"pin_code": 1,
            "token": {"a": 1}, "items": [{"password": 12345}], "cvv": null}});
        let mut counts = Counts::new();
        engine().redact_value(&mut v, &mut counts);
        assert_eq!(
            v,
            json!({"api_key": "[redacted:secret]", "name": "ok", "nested": {"pin_code": 1,
            "token": "[redacted:secret]", "items": [{"password": "[redacted:secret]"}], "cvv": null}})
        );
        assert_eq!(counts["secret"], 3);
    }

    #[test]
    fn detectors_find_personal_data_and_credentials() {
        let cases = [
            ("mail alice@example.com now", "mail [redacted:email] now"),
            (
                "call 415-555-0100 or (415) 555-0199",
                "call [redacted:phone] or [redacted:phone]",
            ),
            (
                "intl +44 20 7946 0958 and +1 415 555 0134",
                "intl [redacted:phone] and [redacted:phone]",
            ),
            ("uk 020 7946 0958", "uk [redacted:phone]"),
            ("ssn 123-45-6789", "ssn [redacted:ssn]"),
            ("card 4111 1111 1111 1111 exp", "card [redacted:card] exp"),
            ("card 5500-0000-0000-0004", "card [redacted:card]"),
            (
                "iban DE89 3704 0044 0532 0130 00 ok",
                "iban [redacted:iban] ok",
            ),
            ("iban GB82WEST12345698765432", "iban [redacted:iban]"),
            ("aws AKIAIOSFODNN7EXAMPLE", "aws [redacted:credential]"),
            (
                "gh ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "gh [redacted:credential]",
            ),
            (
                "stripe sk_live_abcdefghijklmnop",
                "stripe [redacted:credential]",
            ),
            (
                "slack xoxb-123456789012-abcdefghij",
                "slack [redacted:credential]",
            ),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl end",
                "jwt [redacted:jwt] end",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(text(input), expected, "{input}");
        }
        let pem =
            "k -----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY----- done";
        assert_eq!(text(pem), "k [redacted:private_key] done");
    }

    #[test]
    fn look_alikes_are_left_alone() {
        for keep in [
            "released 2024-01-15 at 10:30",
            "server 192.168.100.200 port 8080",
            "order #123-456-7890 shipped",
            "invoice 555-123-4567",
            "version 1.2.3, build 20240115",
            "uuid 550e8400-e29b-41d4-a716-446655440000",
            "price $1,234.56 for 3 items",
            "ssn-like 000-12-3456 and 666-12-3456 and 123-00-4567",
            "card-like 4111 1111 1111 1112",
            "iban-like DE00 3704 0044 0532 0130 00",
            "user@localhost is not an address",
            "Ask Dan about the invoice",
            "timestamp 1700000000",
        ] {
            assert_eq!(text(keep), keep, "changed: {keep}");
        }
    }

    #[test]
    fn card_numbers_held_as_numbers_are_masked_and_other_numbers_stay() {
        let mut v =
            json!({"acct": 4111111111111111u64, "count": 42, "big": 1234567890123u64, "f": 1.5});
        engine().redact_value(&mut v, &mut Counts::new());
        assert_eq!(
            v,
            json!({"acct": "[redacted:card]", "count": 42, "big": 1234567890123u64, "f": 1.5})
        );
    }

    #[test]
    fn detectors_can_be_switched_off_and_patterns_added() {
        let r = Redactor::new(&RedactionSettings {
            default_keys: true,
            disabled: vec!["phone".into()],
            patterns: vec![("employee_id".into(), r"\bEMP-\d{6}\b".into())],
            keys: vec!["Balance".into()],
        })
        .unwrap();
        let mut counts = Counts::new();
        assert_eq!(
            r.redact_text("call 415-555-0100, EMP-123456", &mut counts),
            "call 415-555-0100, [redacted:employee_id]"
        );
        let mut v = json!({"balance": 999});
        r.redact_value(&mut v, &mut counts);
        assert_eq!(v, json!({"balance": "[redacted:secret]"}));
        assert!(
            Redactor::new(&RedactionSettings {
                patterns: vec![("bad".into(), "(".into())],
                ..RedactionSettings::defaults()
            })
            .is_err()
        );
        assert!(
            Redactor::new(&RedactionSettings {
                disabled: vec!["nope".into()],
                ..RedactionSettings::defaults()
            })
            .is_err()
        );
    }

    #[test]
    fn the_seed_cases_hold() {
        let seeds: Value = serde_json::from_str(include_str!(
            "../../../tests/corpus/redaction-seed-cases.json"
        ))
        .unwrap();
        for case in seeds["must_redact"].as_array().unwrap() {
            let mut v = case["input"].clone();
            engine().redact_value(&mut v, &mut Counts::new());
            let out = v.to_string();
            for gone in case["absent"].as_array().unwrap() {
                assert!(
                    !out.contains(gone.as_str().unwrap()),
                    "{} left {gone} in {out}",
                    case["name"]
                );
            }
        }
        for case in seeds["must_not_change"].as_array().unwrap() {
            let mut v = case.clone();
            engine().redact_value(&mut v, &mut Counts::new());
            assert_eq!(&v, case);
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(|n| json!(n)),
            any::<i64>().prop_map(|n| json!(n)),
            "[ -~]{0,40}".prop_map(Value::String),
            "[0-9 @.+-]{0,30}".prop_map(Value::String),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-zA-Z_-]{0,12}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn same_shape(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_shape(p, q))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .all(|(k, v)| y.get(k).is_some_and(|w| same_shape(v, w) || w.is_string()))
            }
            (_, Value::String(_)) => true,
            (x, y) => std::mem::discriminant(x) == std::mem::discriminant(y),
        }
    }

    proptest! {
        #[test]
        fn redacting_twice_changes_nothing_more(v in arb_json()) {
            let r = engine();
            let mut once = v.clone();
            r.redact_value(&mut once, &mut Counts::new());
            let mut twice = once.clone();
            r.redact_value(&mut twice, &mut Counts::new());
            prop_assert_eq!(&once, &twice);
        }

        #[test]
        fn output_is_json_of_the_same_shape(v in arb_json()) {
            let mut out = v.clone();
            engine().redact_value(&mut out, &mut Counts::new());
            let reparsed: Value = serde_json::from_str(&out.to_string()).unwrap();
            prop_assert_eq!(&reparsed, &out);
            prop_assert!(same_shape(&v, &out), "{} -> {}", v, out);
        }

        #[test]
        fn no_text_makes_it_panic(s in any::<String>()) {
            let _ = engine().redact_text(&s, &mut Counts::new());
        }
    }
}

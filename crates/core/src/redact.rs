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
//! - **Opt-in** ([`OPT_IN`], `detect` in the config): personal names and postal addresses, in
//!   text and under name and address fields (see `personal`).
//!
//! A mask names what it hid (`[redacted:email]`). JSON stays valid and keeps its shape: a
//! masked value becomes a string in the same place, and numbers that hide nothing stay numbers.
//! Patterns are compiled when the config loads, so a bad one stops the gateway from starting
//! rather than letting data through.

mod json_text;
mod personal;

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
    "pwd",
    "*_pwd",
    "pass",
    "*_pass",
    "access_key",
    "*_access_key",
    "account_key",
    "*_account_key",
    "signing_key",
    "*_signing_key",
    "encryption_key",
    "*_encryption_key",
    "master_key",
    "connection_string",
    "*_connection_string",
    "sig",
    "x_amz_signature",
    "x_goog_signature",
    "jsessionid",
    "phpsessid",
    "ssn",
    "card_number",
    "credit_card",
    "cvv",
    "cvc",
];

/// The built-in detectors, by name (the name is also the mask's kind).
pub const DETECTORS: &[&str] = &[
    "secret",
    "private_key",
    "jwt",
    "credential",
    "email",
    "iban",
    "card",
    "ssn",
    "phone",
];

pub use personal::OPT_IN;

/// How many values of each kind were masked.
pub type Counts = BTreeMap<String, u64>;

/// Confirms a match, given the masked text, the whole text and where the masked text starts.
type Check = fn(&str, &str, usize) -> bool;

struct Detector {
    kind: String,
    regex: Regex,
    /// Confirms a match (checksums, context); `None` accepts every match.
    check: Option<Check>,
    /// Whether only the pattern's group `v` is masked (the rest of the match is context).
    group: bool,
}

impl Detector {
    fn new(kind: String, regex: Regex, check: Option<Check>) -> Detector {
        Detector {
            kind,
            group: regex.capture_names().any(|n| n == Some("v")),
            regex,
            check,
        }
    }
}

/// A compiled set of redaction rules.
pub struct Redactor {
    /// Sensitive key names and globs, matched in one pass.
    keys: regex::bytes::RegexSet,
    /// Values under sensitive names in free text (`password=…`, `"token": "…"`) and the
    /// passwords of URLs; `None` when the `secret` detector is off.
    pairs: Option<(Regex, Regex)>,
    /// A word of each sensitive key, in any case: text without one holds no sensitive pair.
    key_words: Regex,
    detectors: Vec<Detector>,
    /// Every detector's pattern, to find in one pass which detectors a text needs at all.
    any: RegexSet,
    cards_in_numbers: bool,
    /// The field names of the opt-in detectors that are on, with the kind of their masks.
    personal_keys: Vec<(&'static [&'static str], &'static str)>,
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
    /// Opt-in detectors switched on, by name (see [`OPT_IN`]).
    pub detect: Vec<String>,
}

impl RedactionSettings {
    pub fn defaults() -> RedactionSettings {
        RedactionSettings {
            default_keys: true,
            ..RedactionSettings::default()
        }
    }
}

/// The password of a URL: `scheme://user:PASSWORD@host`.
const URL_PASSWORD: &str =
    r#"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@?#"'<>\[\]]*:(?P<v>[^\s@/?#"'<>\[\]]+)@"#;

/// A name and a value in free text: an HTML field's `name` and `value` (or a `<meta>`'s
/// `content`), or `key = value` in the forms configs, logs, query strings, form bodies,
/// connection strings, headers and code use (`key: "v"`, `KEY=v`, `"key": "v"`,
/// `key => 'v'`, `Authorization: Bearer v`).
const PAIRS: &str = concat!(
    r#"\bname\s*=\s*["'](?P<hk>[^"'<>\n]+)["'][^<>]*?\b(?:value|content)\s*=\s*["'](?P<hv>[^"'<>]+)["']"#,
    r#"|(?P<k>[A-Za-z_][A-Za-z0-9_.-]{0,63})(?:["']?\])?["']?[ \t]*(?P<sep>:=|=>|[:=])[ \t]*"#,
    r#"(?:(?i:bearer|basic|token|digest|apikey)[ \t]+)?"#,
    r#"(?:"(?P<dq>[^"\\\n]+)"|'(?P<sq>[^'\\\n]+)'|(?P<bare>[^\s,;&"'<>(){}\[\]]+))"#,
);

fn built_in(name: &str) -> &'static [(&'static str, Option<Check>)] {
    match name {
        "private_key" => &[(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
            None,
        )],
        "jwt" => &[(
            r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
            None,
        )],
        "credential" => &[
            // An AWS secret access key: forty characters of base64, beside its key id or the
            // words that name it.
            (
                r"(?:^|[^A-Za-z0-9/+=])(?P<v>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)",
                Some(aws_secret_ok),
            ),
            (
                concat!(
                    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
                    r"|\bgh[pousr]_[A-Za-z0-9]{36,255}\b",
                    r"|\bgithub_pat_[A-Za-z0-9_]{22,255}\b",
                    r"|\bglpat-[A-Za-z0-9_-]{20,}",
                    r"|\bgl(?:sa|c|dt|rt|ptt)_[A-Za-z0-9_-]{20,}",
                    r"|\bxox[abposre]-[A-Za-z0-9-]{10,}",
                    r"|\b[rs]k_(?:live|test)_[A-Za-z0-9]{10,}",
                    r"|\bwhsec_[A-Za-z0-9]{16,}",
                    r"|\bAIza[0-9A-Za-z_-]{35}",
                    r"|\bya29\.[0-9A-Za-z_-]{20,}",
                    r"|\bGOCSPX-[0-9A-Za-z_-]{20,}",
                    r"|\bsk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_-]{20,}",
                    r"|\bhf_[A-Za-z0-9]{30,}",
                    r"|\bnpm_[A-Za-z0-9]{36}\b",
                    r"|\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{20,}",
                    r"|\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,64}",
                    r"|\bSK[0-9a-f]{32}\b",
                    r"|\bkey-[0-9a-f]{32}\b",
                    r"|\bshp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}\b",
                    r"|\bdo[opr]_v1_[a-f0-9]{64}\b",
                    r"|\bhvs\.[A-Za-z0-9_-]{24,}",
                    r"|\blin_api_[A-Za-z0-9]{40}\b",
                    r"|\bdapi[0-9a-f]{32}\b",
                    r"|\bNRAK-[A-Z0-9]{27}\b",
                    r"|\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b",
                    r"|\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b",
                    r"|\bhttps://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{20,}",
                    r"|\bhttps://(?:[a-z]+\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]{20,}",
                    r"|\bhttps://[a-z0-9-]+\.webhook\.office\.com/[A-Za-z0-9@/_-]{20,}",
                ),
                None,
            ),
        ],
        "email" => &[
            (
                r"(?i)\b[a-z0-9._%+-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}\b",
                Some(email_ok),
            ),
            // Spelled out against harvesters: `alice at example dot com`, `bob [at] mail [dot] org`.
            (
                r"(?i)\b[a-z0-9._%+-]+ ?(?:\(at\)|\[at\]| at ) ?[a-z0-9-]+(?: ?(?:\(dot\)|\[dot\]| dot ) ?[a-z0-9-]+)*(?: ?(?:\(dot\)|\[dot\]| dot ) ?)(?:com|org|net|io|edu|gov|de|fr|uk|es|it|nl|co|ch|at|be|se|no|dk|pl|ru|jp|cn|in|br|au|ca|us|info|biz|dev|app)\b",
                None,
            ),
        ],
        "iban" => &[(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", Some(iban_ok))],
        "card" => &[(r"\b\d(?:[ -]?\d){12,18}\b", Some(card_ok))],
        "ssn" => &[
            (r"\b\d{3}-\d{2}-\d{4}\b|\b\d{3} \d{2} \d{4}\b", Some(ssn_ok)),
            (r"\b\d{9}\b", Some(bare_ssn_ok)),
        ],
        "phone" => &[
            (
                concat!(
                    // International: `+` or `00`, a country code, then groups.
                    r"(?:\+|\b00)[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,6}\b",
                    // North American, with or without the leading 1.
                    r"|(?:\b1[ .-]?)?(?:\([2-9]\d{2}\) ?|\b[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}\b",
                    // National, with the trunk prefix 0: `06 12 34 56 78`, `030 12345678`,
                    // `(03) 9123 4567`, `0412 345 678`.
                    r"|(?:\(0[1-9]\d{0,3}\) ?|\b0[1-9]\d{0,3}[ ./-]?)\d{2,4}(?:[ .-]?\d{2,4}){1,3}\b",
                ),
                Some(phone_ok),
            ),
            (
                // Any run of digits that the words before it call a phone number.
                r"(?i)\b(?:phone|tel|telephone|cell|cellphone|mobile|mob|fax|whatsapp|sms|call me|text me)\b(?: ?(?:number|no\.?|num|#))?(?: (?:is|on|at))?[ \t]*[:=]?[ \t]*(?P<v>\+?\(?\d[\d .()/-]{5,20}\d)\b",
                Some(cued_phone_ok),
            ),
        ],
        _ => &[],
    }
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
    let d: String = m.chars().filter(char::is_ascii_digit).collect();
    d.len() == 9 && &d[0..3] != "000" && &d[0..3] != "666" && &d[3..5] != "00" && &d[5..] != "0000"
}

/// Nine digits in a row are an SSN only where the text just before says so.
fn bare_ssn_ok(m: &str, text: &str, start: usize) -> bool {
    let before = window(text, start, 40, 0).to_ascii_lowercase();
    ssn_ok(m, text, start)
        && [
            "ssn",
            "social security",
            "social-security",
            "taxpayer id",
            "itin",
        ]
        .iter()
        .any(|cue| before.contains(cue))
}

/// Up to `before` bytes of `text` before `start` and `after` bytes after it, cut at character
/// boundaries.
fn window(text: &str, start: usize, before: usize, after: usize) -> &str {
    let mut from = start.saturating_sub(before);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (start + after).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    &text[from..to]
}

/// Forty characters of base64 are an AWS secret key when they look random and an AWS key id
/// or the words for one are near.
fn aws_secret_ok(m: &str, text: &str, start: usize) -> bool {
    let mixed = m.bytes().any(|b| b.is_ascii_uppercase())
        && m.bytes().any(|b| b.is_ascii_lowercase())
        && m.bytes().any(|b| b.is_ascii_digit());
    if !mixed {
        return false;
    }
    let near = window(text, start, 200, 240);
    near.contains("AKIA")
        || near.contains("ASIA")
        || ["aws", "secret", "access key"].iter().any(|cue| {
            window(text, start, 60, 0)
                .to_ascii_lowercase()
                .contains(cue)
        })
}

/// File names (`logo@2x.png`) and message ids (`<uuid@host>`) look like addresses but name
/// nobody.
fn email_ok(m: &str, _: &str, _: usize) -> bool {
    const FILES: [&str; 12] = [
        "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "js", "css", "ts", "json", "map",
    ];
    let Some((local, domain)) = m.rsplit_once('@') else {
        return true;
    };
    let tld = domain
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let uuid_like = local.len() >= 32
        && local.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && local.bytes().filter(|&b| b == b'-').count() >= 4;
    !FILES.contains(&tld.as_str()) && !uuid_like
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

fn cued_phone_ok(m: &str, _: &str, _: usize) -> bool {
    (7..=15).contains(&digits(m).len())
}

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
    let before = window(text, start, 16, 0).to_ascii_lowercase();
    !NOT_A_PHONE.iter().any(|w| before.contains(w))
}

/// The key globs in force, normalised: the defaults (if on) and the config's own.
fn key_names(defaults: &[&str], configured: &[String]) -> Vec<String> {
    defaults
        .iter()
        .map(|k| k.to_string())
        .chain(configured.iter().map(|k| normalize_key(k)))
        .collect()
}

/// Column names (normalised) whose cells are personal data of a kind, in tables held in text.
const COLUMN_KINDS: &[(&[&str], &str)] = &[
    (
        &["ssn", "social_security_number", "social_security", "itin"],
        "ssn",
    ),
    (
        &[
            "phone",
            "phone_number",
            "mobile",
            "cell_phone",
            "tel",
            "telephone",
            "fax",
        ],
        "phone",
    ),
    (&["email", "e_mail", "email_address"], "email"),
    (&["iban", "account_number", "bank_account"], "iban"),
    (&["card", "card_number", "credit_card", "cc_number"], "card"),
];

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

/// `found` added to `counts`: masks counted apart until it is known they stand.
fn add(counts: &mut Counts, found: Counts) {
    for (kind, n) in found {
        *counts.entry(kind).or_default() += n;
    }
}

fn mask(kind: &str) -> String {
    format!("[redacted:{kind}]")
}

/// Whether `value` is already a mask (a second pass must not mask the mask).
fn is_masked(value: &str) -> bool {
    value.starts_with("[redacted:")
}

/// The values of a `Cookie:` header's cookies (or of a `Set-Cookie:` header's one cookie, not
/// its attributes), from `start` to the end of the line: masked under a sensitive name, or
/// when they are not a plain word or small number (`theme=dark` stays, `sid=8f14e4…` goes).
fn cookie_values(
    text: &str,
    start: usize,
    set_cookie: bool,
    redactor: &Redactor,
    spans: &mut Vec<std::ops::Range<usize>>,
) {
    let line = text[start..].split(['\n', '\r']).next().unwrap_or_default();
    let mut at = start;
    for (i, part) in line.split(';').enumerate() {
        if let Some((name, value)) = part.split_once('=')
            && !(set_cookie && i > 0)
        {
            let value_start = at + name.len() + 1;
            let trimmed = value.trim();
            let plain = (trimmed.len() <= 12 && trimmed.chars().all(char::is_alphabetic))
                || (trimmed.len() <= 5 && trimmed.bytes().all(|b| b.is_ascii_digit()));
            if !trimmed.is_empty()
                && !is_masked(trimmed)
                && (redactor.is_sensitive_key(name.trim()) || !plain)
            {
                let lead = value.len() - value.trim_start().len();
                spans.push(value_start + lead..value_start + lead + trimmed.len());
            }
        }
        at += part.len() + 1;
    }
}

/// `text` with each of `spans` (in order, not overlapping) replaced by a mask of `kind`, each
/// counted; `None` when there are none.
fn masked(
    text: &str,
    spans: &[std::ops::Range<usize>],
    kind: &str,
    counts: &mut Counts,
) -> Option<String> {
    if spans.is_empty() {
        return None;
    }
    *counts.entry(kind.to_string()).or_default() += spans.len() as u64;
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for span in spans {
        out.push_str(&text[last..span.start]);
        out.push_str(&mask(kind));
        last = span.end;
    }
    out.push_str(&text[last..]);
    Some(out)
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
        for k in key_names(defaults, &settings.keys) {
            let glob = Glob::new(&k).map_err(|e| format!("key `{k}`: {e}"))?;
            keys.push(glob.regex().to_string());
        }
        // Every spelling of a key (`dbPassword`, `DB-PASSWORD`) holds each word of its
        // normalised form, so the longest word of each is enough to rule a text out.
        let mut words: Vec<String> = key_names(defaults, &settings.keys)
            .iter()
            .filter_map(|k| {
                k.split(['_', '*'])
                    .max_by_key(|w| w.len())
                    .filter(|w| !w.is_empty())
                    .map(regex::escape)
            })
            .collect();
        words.sort();
        words.dedup();
        let key_words = Regex::new(&format!("(?i){}", words.join("|")))
            .map_err(|e| format!("the keys together: {e}"))?;
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
        let on = |name: &str| !settings.disabled.iter().any(|d| d == name);
        let mut detectors = Vec::new();
        for &name in DETECTORS.iter().filter(|n| on(n)) {
            for &(pattern, check) in built_in(name) {
                let regex = Regex::new(pattern).map_err(|e| format!("detector `{name}`: {e}"))?;
                detectors.push(Detector::new(name.to_string(), regex, check));
            }
        }
        for d in &settings.detect {
            if !OPT_IN.iter().any(|(name, _)| name == d) {
                return Err(format!(
                    "unknown opt-in detector `{d}`; `detect` takes {}",
                    OPT_IN
                        .iter()
                        .map(|(name, _)| *name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let mut personal_keys = Vec::new();
        for &(name, kind) in OPT_IN
            .iter()
            .filter(|(n, _)| settings.detect.iter().any(|d| d == n))
        {
            for (pattern, check) in personal::patterns(name) {
                let regex = Regex::new(&pattern).map_err(|e| format!("detector `{name}`: {e}"))?;
                detectors.push(Detector::new(kind.to_string(), regex, check));
            }
            personal_keys.push((personal::keys(name), kind));
        }
        for (kind, pattern) in &settings.patterns {
            let regex = Regex::new(pattern).map_err(|e| format!("pattern `{kind}`: {e}"))?;
            detectors.push(Detector::new(kind.clone(), regex, None));
        }
        let pairs = on("secret")
            .then(|| Ok::<_, regex::Error>((Regex::new(URL_PASSWORD)?, Regex::new(PAIRS)?)))
            .transpose()
            .map_err(|e| format!("detector `secret`: {e}"))?;
        let any = RegexSet::new(detectors.iter().map(|d| d.regex.as_str()))
            .map_err(|e| format!("the detectors together: {e}"))?;
        Ok(Redactor {
            keys,
            key_words,
            pairs,
            cards_in_numbers: !settings.disabled.iter().any(|d| d == "card"),
            detectors,
            any,
            personal_keys,
        })
    }

    /// Whether values under `key` are masked (after normalising its case and separators).
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        let plain = key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if plain && !key.starts_with('_') && !key.ends_with('_') && !key.contains("__") {
            self.keys.is_match(key.as_bytes())
        } else {
            self.keys.is_match(normalize_key(key).as_bytes())
        }
    }

    /// The kind of personal data an opt-in detector that is on finds under `key`, for a value
    /// that is one (`address` under a key that holds a host is not).
    fn personal_kind(&self, key: &str, value: Option<&Value>) -> Option<&'static str> {
        if self.personal_keys.is_empty() {
            return None;
        }
        let key = normalize_key(key);
        let &(_, kind) = self
            .personal_keys
            .iter()
            .find(|(keys, _)| keys.contains(&key.as_str()))?;
        let fits = match value {
            None => true,
            Some(Value::Null) => false,
            Some(v) if kind == "address" => personal::is_postal(v),
            Some(_) => true,
        };
        fits.then_some(kind)
    }

    /// Masks what the detectors find in `text`.
    pub fn redact_text<'a>(&self, text: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        let mut current: Cow<'a, str> = match self.redact_columns(text, counts) {
            Some(out) => Cow::Owned(out),
            None => Cow::Borrowed(text),
        };
        if let Some((urls, pairs)) = &self.pairs {
            // URLs first: a URL is also the value of `DATABASE_URL=…`, which is not secret.
            if text.contains("://") {
                let spans: Vec<_> = urls
                    .captures_iter(text)
                    .filter_map(|c| c.name("v").map(|v| v.range()))
                    .collect();
                if let Some(out) = masked(text, &spans, "secret", counts) {
                    current = Cow::Owned(out);
                }
            }
            if self.key_words.is_match(&current)
                && let Cow::Owned(out) = self.redact_pairs(pairs, &current, counts)
            {
                current = Cow::Owned(out);
            }
        }
        let candidates = self.any.matches(text);
        if !candidates.matched_any() {
            return current;
        }
        // Masks hold no digits, `@` or key-like runs, so a detector that found nothing in the
        // original text finds nothing after earlier detectors have masked parts of it.
        for d in candidates.iter().map(|i| &self.detectors[i]) {
            let source = current.as_ref();
            let mut spans = Vec::new();
            let mut keep = |m: regex::Match<'_>| {
                if d.check
                    .is_none_or(|check| check(m.as_str(), source, m.start()))
                {
                    spans.push(m.range());
                }
            };
            if d.group {
                d.regex
                    .captures_iter(source)
                    .filter_map(|c| c.name("v"))
                    .for_each(&mut keep);
            } else {
                d.regex.find_iter(source).for_each(&mut keep);
            }
            if let Some(masked) = masked(source, &spans, &d.kind, counts) {
                current = Cow::Owned(masked);
            }
        }
        current
    }

    /// A table (CSV, TSV, `;`- or `|`-separated, with a header line) whose header names a
    /// sensitive column: that column's cells are masked in every row, whatever they look like
    /// (`ssn` over `078051120`, `password` over `hunter2`). Rows with quotes, or with another
    /// number of cells than the header, are left to the other detectors. `None` when the text
    /// is no such table.
    fn redact_columns(&self, text: &str, counts: &mut Counts) -> Option<String> {
        let (header_line, body) = text.split_once('\n')?;
        let header = header_line.trim_end_matches('\r');
        let delimiter = [',', '\t', ';', '|']
            .into_iter()
            .find(|d| header.contains(*d))?;
        // A header names columns: no quotes, assignments or code (`const KEY = 'v';`), and at
        // most one cell left empty (an index column).
        let names: Vec<&str> = header.split(delimiter).collect();
        if header.contains(['"', '\'', '=', '(', '{', '<'])
            || names.iter().filter(|n| n.trim().is_empty()).count() > 1
        {
            return None;
        }
        // Which columns, and the mask each gets.
        let columns: Vec<Option<&'static str>> = names
            .iter()
            .map(|name| {
                let name = normalize_key(name);
                COLUMN_KINDS
                    .iter()
                    .find(|(names, _)| names.contains(&name.as_str()))
                    .map(|(_, kind)| *kind)
                    .or_else(|| self.is_sensitive_key(&name).then_some("secret"))
                    .or_else(|| self.personal_kind(&name, None))
            })
            .collect();
        if columns.iter().all(Option::is_none) {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        out.push_str(header_line);
        let mut found = Counts::new();
        for line in body.split('\n') {
            out.push('\n');
            let row = line.trim_end_matches('\r');
            let cells: Vec<&str> = row.split(delimiter).collect();
            if row.contains('"') || cells.len() != columns.len() {
                out.push_str(line);
                continue;
            }
            for (i, (cell, kind)) in cells.iter().zip(&columns).enumerate() {
                if i > 0 {
                    out.push(delimiter);
                }
                match kind {
                    Some(kind) if !cell.trim().is_empty() && !is_masked(cell) => {
                        out.push_str(&mask(kind));
                        *found.entry(kind.to_string()).or_default() += 1;
                    }
                    _ => out.push_str(cell),
                }
            }
            out.push_str(&line[row.len()..]);
        }
        if found.is_empty() {
            return None;
        }
        add(counts, found);
        Some(out)
    }

    /// Masks the values that free text holds under sensitive names (see [`PAIRS`]).
    fn redact_pairs<'a>(&self, pairs: &Regex, text: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        let mut spans = Vec::new();
        for c in pairs.captures_iter(text) {
            let value = if let (Some(key), Some(v)) = (c.name("hk"), c.name("hv")) {
                self.is_sensitive_key(key.as_str()).then_some(v)
            } else if let Some(key) = c.name("k") {
                let value = c.name("dq").or(c.name("sq"));
                let bare = c.name("bare");
                let v = value.or(bare);
                // `Password: click the link below` is prose: a bare word after a colon that
                // more words follow is not a value.
                let prose = value.is_none()
                    && c.name("sep").is_some_and(|s| s.as_str() == ":")
                    && bare.is_some_and(|b| {
                        b.as_str().chars().all(char::is_alphabetic)
                            && text[b.end()..].starts_with(' ')
                    });
                // The last segment names the value: `spring.datasource.password`.
                let name = key.as_str().rsplit('.').next().unwrap_or_default();
                let header = c.name("sep").is_some_and(|s| s.as_str() == ":");
                match (header, bare, normalize_key(name).as_str()) {
                    (true, Some(b), kind @ ("cookie" | "set_cookie")) => {
                        cookie_values(text, b.start(), kind == "set_cookie", self, &mut spans);
                        None
                    }
                    _ => (!prose && self.is_sensitive_key(name))
                        .then_some(v)
                        .flatten(),
                }
            } else {
                None
            };
            if let Some(v) = value.filter(|v| !is_masked(v.as_str())) {
                spans.push(v.range());
            }
        }
        // A cookie header's values are also matched as pairs of their own.
        spans.sort_by_key(|r| r.start);
        spans.dedup_by(|later, kept| later.start < kept.end);
        match masked(text, &spans, "secret", counts) {
            Some(out) => Cow::Owned(out),
            None => Cow::Borrowed(text),
        }
    }

    /// Masks, in place, every sensitive member and every detected value in `value`.
    pub fn redact_value(&self, value: &mut Value, counts: &mut Counts) {
        match value {
            Value::String(s) => {
                let redacted = match self.redact_json_text(s, counts) {
                    Some(json) => json,
                    None => self.redact_text(s, counts),
                };
                if let Cow::Owned(redacted) = redacted {
                    *s = redacted;
                }
            }
            Value::Number(n) => {
                // A card number may come as an integer or as a float with no fraction.
                let whole = n.as_u64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && (1e12..1e20).contains(f))
                        .map(|f| f as u64)
                });
                if self.cards_in_numbers
                    && let Some(u) = whole
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

    /// Text that is a JSON object or array (a file a server read, an API's body) is redacted
    /// as the structured value it holds, exactly as `structuredContent` is, so the two always
    /// agree; the text stays JSON, with its own layout (key order, spacing, number spellings):
    /// only the values redaction changed are rewritten.
    /// `None` when the text is not JSON.
    fn redact_json_text<'a>(&self, text: &'a str, counts: &mut Counts) -> Option<Cow<'a, str>> {
        let trimmed = text.trim();
        let bracketed = (trimmed.starts_with('{') && trimmed.ends_with('}'))
            || (trimmed.starts_with('[') && trimmed.ends_with(']'));
        if !bracketed {
            return None;
        }
        let mut parsed: Value = serde_json::from_str(trimmed).ok()?;
        let mut found = Counts::new();
        self.redact_value(&mut parsed, &mut found);
        if found.is_empty() {
            return Some(Cow::Borrowed(text));
        }
        // The text keeps its layout: only what changed is rewritten where it stands.
        let original: Value = serde_json::from_str(trimmed).ok()?;
        let start = text.len() - text.trim_start().len();
        let out = match json_text::rewrite(trimmed, &original, &parsed) {
            Some(json) => format!("{}{json}{}", &text[..start], &text[start + trimmed.len()..]),
            None if trimmed.contains('\n') => serde_json::to_string_pretty(&parsed).ok()?,
            None => serde_json::to_string(&parsed).ok()?,
        };
        add(counts, found);
        Some(Cow::Owned(out))
    }

    fn redact_object(&self, members: &mut Map<String, Value>, counts: &mut Counts) {
        for (key, v) in members.iter_mut() {
            let kind = if self.is_sensitive_key(key) && !matches!(v, Value::Null) {
                Some("secret")
            } else {
                self.personal_kind(key, Some(v))
            };
            if let Some(kind) = kind {
                *v = Value::String(mask(kind));
                *counts.entry(kind.into()).or_default() += 1;
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
        // The text keeps its own layout: key order, spacing and number spellings.
        let file = "{\n    \"zone\": \"eu\",\n    \"ratio\": 1.50,\n    \"api_key\": \"k-123\",\n    \"ok\": true\n}\n";
        let mut block = Value::String(file.to_string());
        engine().redact_value(&mut block, &mut Counts::new());
        assert_eq!(
            block,
            "{\n    \"zone\": \"eu\",\n    \"ratio\": 1.50,\n    \"api_key\": \"[redacted:secret]\",\n    \"ok\": true\n}\n"
        );
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
    fn secrets_in_connection_strings_urls_headers_and_configs_are_masked() {
        let cases = [
            (
                "postgres://app:Wint3r!@db:5432/x",
                "postgres://app:[redacted:secret]@db:5432/x",
            ),
            (
                "DATABASE_URL=redis://:pw9@cache.local:6379",
                "DATABASE_URL=redis://:[redacted:secret]@cache.local:6379",
            ),
            (
                "jdbc:mysql://h/db?user=u&password=Tr0ub&ssl=1",
                "jdbc:mysql://h/db?user=u&password=[redacted:secret]&ssl=1",
            ),
            (
                "Server=s;User ID=sa;Password=Zx!9;Encrypt=True",
                "Server=s;User ID=sa;Password=[redacted:secret];Encrypt=True",
            ),
            ("Pwd=abc123;", "Pwd=[redacted:secret];"),
            (
                "Authorization: Bearer abc.def-123",
                "Authorization: Bearer [redacted:secret]",
            ),
            ("password: 'Blue$Sky'", "password: '[redacted:secret]'"),
            (
                r#"{"db_password":"x1","region":"eu"} broken"#,
                r#"{"db_password":"[redacted:secret]","region":"eu"} broken"#,
            ),
            (
                "spring.datasource.password=S1",
                "spring.datasource.password=[redacted:secret]",
            ),
            (
                "$cfg['db_password'] = 'Ph9';",
                "$cfg['db_password'] = '[redacted:secret]';",
            ),
            (
                r#"<input name="password" value="letmein">"#,
                r#"<input name="password" value="[redacted:secret]">"#,
            ),
            (
                "aws_secret_access_key = 7tLpQ9vX2mKc8RzN4bWy1HsD6fGjE0aUoIiTnYr3",
                "aws_secret_access_key = [redacted:secret]",
            ),
            (
                "AKIAZ3MFD8QW1LPXRT4B kP2/9dWqLx7vB3nM+8rTy5cZ1hJ4sF6gA0eU2oRi",
                "[redacted:credential] [redacted:credential]",
            ),
            (
                "hook https://hooks.slack.com/services/T0123ABCD/B0456EFGH/aBcDeFgHiJkLmNoPqRsTuVwX",
                "hook [redacted:credential]",
            ),
            ("SSN 078051120 on file", "SSN [redacted:ssn] on file"),
            ("my cell is 4155550134", "my cell is [redacted:phone]"),
            ("tel 06 12 34 56 78", "tel [redacted:phone]"),
            ("call 1-800-555-0199", "call [redacted:phone]"),
            ("bureau +33 1 42 68 53 00", "bureau [redacted:phone]"),
            (
                "write to bob at example dot com",
                "write to [redacted:email]",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(text(input), expected, "{input}");
        }
    }

    #[test]
    fn tables_held_in_text_mask_the_columns_their_headers_name() {
        let csv = "id,name,ssn,password,city\r\n1,Ana,078051120,hunter2,Lyon\r\n2,Bo,,x9,Oslo\r\n3,\"Li, W\",219099999,p,Rome";
        let mut counts = Counts::new();
        let out = engine().redact_text(csv, &mut counts).into_owned();
        assert_eq!(
            out,
            "id,name,ssn,password,city\r\n1,Ana,[redacted:ssn],[redacted:secret],Lyon\r\n2,Bo,,[redacted:secret],Oslo\r\n3,\"Li, W\",219099999,p,Rome"
        );
        assert_eq!((counts["ssn"], counts["secret"]), (1, 2));
        let tsv = "user\tmobile\nana\t612 34 56\n";
        assert_eq!(text(tsv), "user\tmobile\nana\t[redacted:phone]\n");
        for keep in [
            "sku,qty,price\n100-200-3000,4,19.99",
            "a,b\n1,2",
            "just one line, with commas",
            // Code is not a table, though `;` splits it and a name in it is sensitive.
            "const API_KEY_HEADER = 'X-API-Key';\nconst TOKEN_TTL = 900;",
            "let token_ttl = 30; let retries = 3;\nlet a = 1; let b = 2;",
        ] {
            assert_eq!(text(keep), keep);
        }
    }

    #[test]
    fn cookie_headers_lose_their_session_values_and_keep_preferences() {
        for (input, expected) in [
            (
                "Cookie: theme=dark; sessionid=8f14e45fceea167a; lang=en; _ga=GA1.2.1784.1700",
                "Cookie: theme=dark; sessionid=[redacted:secret]; lang=en; _ga=[redacted:secret]",
            ),
            (
                "Set-Cookie: sid=Zm9vYmFy0123; Path=/; HttpOnly; Max-Age=3600",
                "Set-Cookie: sid=[redacted:secret]; Path=/; HttpOnly; Max-Age=3600",
            ),
            (
                "set-cookie: auth_token=yes; Secure\nHost: a.example",
                "set-cookie: auth_token=[redacted:secret]; Secure\nHost: a.example",
            ),
        ] {
            assert_eq!(text(input), expected, "{input}");
        }
    }

    #[test]
    fn json_in_text_is_redacted_as_the_structured_value_and_stays_json() {
        let data = json!({"smtp": {"password": "Gr33n!", "host": "mail"}, "owner": "a@b.io",
            "card": 4242424242424242.0_f64});
        let mut result = json!({
            "content": [
                {"type": "text", "text": serde_json::to_string_pretty(&data).unwrap()},
                {"type": "text", "text": data.to_string()},
            ],
            "structuredContent": data,
        });
        let mut counts = Counts::new();
        engine().redact_value(&mut result, &mut counts);
        let structured = &result["structuredContent"];
        assert_eq!(structured["smtp"]["password"], "[redacted:secret]");
        assert_eq!(structured["card"], "[redacted:card]");
        for block in result["content"].as_array().unwrap() {
            let text = block["text"].as_str().unwrap();
            let parsed: Value = serde_json::from_str(text).unwrap();
            assert_eq!(&parsed, structured, "{text}");
        }
        assert!(
            result["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains('\n')
        );
        assert_eq!(counts["secret"], 3);
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
            "Message-ID: <a1b2c3d4-e5f6-4711-8899-aabbccddeeff@mail.example.com>",
            "icons logo@2x.png and logo@3x.png",
            "Reset your password: click the link below",
            "password_min_length: 12, token_ttl: 3600",
            "if (password.length < 8) return",
            "sku 100-200-3000 and 000-12-3456",
            "commit 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
            "meeting 845 2211 0937",
            "badge https://img.shields.io/badge/build-passing-green.svg",
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
    fn names_and_addresses_are_masked_only_when_asked_for() {
        let letter = "Dear Mrs. Okafor,\nPriya Raman will ship it to 742 Evergreen Terrace, \
                      Springfield, OR 97403 or Bergmannstraße 44, 10961 Berlin.\nRegards,\nLaura";
        assert_eq!(text(letter), letter, "off by default");
        let on = Redactor::new(&RedactionSettings {
            detect: vec!["names".into(), "addresses".into()],
            ..RedactionSettings::defaults()
        })
        .unwrap();
        let mut counts = Counts::new();
        assert_eq!(
            on.redact_text(letter, &mut counts),
            "Dear Mrs. [redacted:name],\n[redacted:name] will ship it to [redacted:address] \
             or [redacted:address].\nRegards,\n[redacted:name]"
        );
        assert_eq!(counts["name"], 3);
        assert_eq!(counts["address"], 2);
        // A given name alone, places, products and headings stay.
        for keep in [
            "Ask Dan about the invoice",
            "The Jordan River flows south past Victoria Station.",
            "Claude Code and Julia Computing",
            "### Client Example Program",
            "Dear Hiring Manager,",
            "Take Route 66 west, then exit 4B.",
        ] {
            assert_eq!(on.redact_text(keep, &mut counts), keep);
        }
        // Fields: a name's parts, an address as text or object; an address field that holds a
        // listening address is not a postal one.
        let mut v = json!({"first_name": "Aiko", "lastName": "Tanaka",
            "shipping_address": {"line1": "55 Water St", "zip": "11201"},
            "address": "0.0.0.0:8080", "name": "read_file"});
        on.redact_value(&mut v, &mut counts);
        assert_eq!(
            v,
            json!({"first_name": "[redacted:name]", "lastName": "[redacted:name]",
                "shipping_address": "[redacted:address]", "address": "0.0.0.0:8080",
                "name": "read_file"})
        );
        let table = "id,full_name,street\n1,Fatima Al-Sayed,Kerkstraat 7";
        assert_eq!(
            on.redact_text(table, &mut counts),
            "id,full_name,street\n1,[redacted:name],[redacted:address]"
        );
        let unknown = Redactor::new(&RedactionSettings {
            detect: vec!["faces".into()],
            ..RedactionSettings::defaults()
        });
        assert!(
            unknown
                .unwrap_err()
                .contains("`detect` takes addresses, names")
        );
    }

    #[test]
    fn detectors_can_be_switched_off_and_patterns_added() {
        let r = Redactor::new(&RedactionSettings {
            default_keys: true,
            disabled: vec!["phone".into()],
            patterns: vec![("employee_id".into(), r"\bEMP-\d{6}\b".into())],
            keys: vec!["Balance".into()],
            detect: Vec::new(),
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
        fn json_held_in_text_is_redacted_like_the_json_itself(v in arb_json()) {
            let r = engine();
            let mut structured = v.clone();
            r.redact_value(&mut structured, &mut Counts::new());
            prop_assume!(v.is_object() || v.is_array());
            let mut text = Value::String(v.to_string());
            r.redact_value(&mut text, &mut Counts::new());
            let reparsed: Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
            prop_assert_eq!(reparsed, structured);
        }

        #[test]
        fn no_text_makes_it_panic(s in any::<String>()) {
            let _ = engine().redact_text(&s, &mut Counts::new());
        }
    }
}

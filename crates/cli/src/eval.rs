//! `portcullis eval`: the redaction and guardrail engines measured on labelled corpora.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use portcullis::Config;
use portcullis::core::guardrail::scorer::Thresholds;
use portcullis::core::guardrail::{Guardrail, SCORER_RULE, Verdict};
use portcullis::core::poisoning::PoisonScan;
use portcullis::core::redact::{Counts, RedactionSettings, Redactor};
use serde_json::{Value, json};

/// The samples of a JSON Lines corpus, each with its line number; every one must have `text`.
fn samples(corpus: &Path) -> anyhow::Result<Vec<(usize, Value)>> {
    samples_with(corpus, "text", Value::is_string)
}

/// The samples of a JSON Lines corpus, each with its line number; every one must have `field`
/// of the kind `is_kind` accepts.
fn samples_with(
    corpus: &Path,
    field: &str,
    is_kind: fn(&Value) -> bool,
) -> anyhow::Result<Vec<(usize, Value)>> {
    let text = std::fs::read_to_string(corpus)
        .with_context(|| format!("cannot read the corpus `{}`", corpus.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let sample: Value = serde_json::from_str(line)
            .with_context(|| format!("{}: line {} is not JSON", corpus.display(), i + 1))?;
        if !is_kind(&sample[field]) {
            anyhow::bail!(
                "{}: line {} has no \"{field}\" of the right kind",
                corpus.display(),
                i + 1
            );
        }
        out.push((i + 1, sample));
    }
    Ok(out)
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// A sample as a miss list shows it: escaped, and cut at 100 characters.
fn excerpt(text: &str) -> String {
    let short: String = text.chars().take(100).collect();
    let more = if short.len() < text.len() { "…" } else { "" };
    format!("{}{more}", short.escape_debug())
}

/// Must-redact and must-keep strings of one group of redaction samples.
#[derive(Default)]
struct RedactionTally {
    redact: usize,
    gone: usize,
    keep: usize,
    kept: usize,
}

impl RedactionTally {
    fn json(&self) -> Value {
        json!({"must_redact": self.redact, "recall": ratio(self.gone, self.redact),
            "must_keep": self.keep, "keep_rate": ratio(self.kept, self.keep)})
    }

    fn line(&self) -> String {
        format!(
            "recall {:.3} ({} of {}), keep rate {:.3} ({} of {})",
            ratio(self.gone, self.redact),
            self.gone,
            self.redact,
            ratio(self.kept, self.keep),
            self.kept,
            self.keep
        )
    }
}

pub fn redaction(corpus: &Path, config: Option<Config>, json: bool) -> anyhow::Result<ExitCode> {
    let redactor = match config {
        Some(config) => config.redaction,
        None => {
            Arc::new(Redactor::new(&RedactionSettings::defaults()).map_err(anyhow::Error::msg)?)
        }
    };
    let mut total = RedactionTally::default();
    let mut by_kind: BTreeMap<String, RedactionTally> = BTreeMap::new();
    let mut by_where: BTreeMap<String, RedactionTally> = BTreeMap::new();
    let mut misses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let samples = samples(corpus)?;
    for (_, sample) in &samples {
        let input = sample["text"].as_str().unwrap_or_default();
        let label = |field: &str| sample[field].as_str().unwrap_or("unlabelled").to_string();
        let (kind, place) = (label("kind"), label("where"));
        // Redacted as a result's text block is: text that holds JSON is redacted as JSON.
        let mut output = Value::String(input.to_string());
        redactor.redact_value(&mut output, &mut Counts::new());
        let output = output.as_str().unwrap_or_default();
        let strings = |field: &str| -> Vec<String> {
            sample[field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        let mut tally = |f: &dyn Fn(&mut RedactionTally)| {
            f(&mut total);
            f(by_kind.entry(kind.clone()).or_default());
            f(by_where.entry(place.clone()).or_default());
        };
        for s in strings("must_redact") {
            let gone = !output.contains(&s);
            tally(&|t| {
                t.redact += 1;
                t.gone += usize::from(gone);
            });
            if !gone {
                misses
                    .entry(kind.clone())
                    .or_default()
                    .push(format!("kept {s:?}"));
            }
        }
        for s in strings("must_keep") {
            let kept = output.contains(&s);
            tally(&|t| {
                t.keep += 1;
                t.kept += usize::from(kept);
            });
            if !kept {
                misses
                    .entry(kind.clone())
                    .or_default()
                    .push(format!("masked {s:?}"));
            }
        }
    }
    let (recall, keep_rate) = (
        ratio(total.gone, total.redact),
        ratio(total.kept, total.keep),
    );
    let groups = |m: &BTreeMap<String, RedactionTally>| -> BTreeMap<String, Value> {
        m.iter().map(|(k, t)| (k.clone(), t.json())).collect()
    };
    if json {
        println!(
            "{}",
            json!({"samples": samples.len(), "recall": recall, "keep_rate": keep_rate,
                "must_redact": total.redact, "must_keep": total.keep,
                "kinds": groups(&by_kind), "where": groups(&by_where), "misses": misses})
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("samples: {}", samples.len());
    println!(
        "recall: {recall:.3} ({} of {} must-redact strings gone)",
        total.gone, total.redact
    );
    println!(
        "keep rate: {keep_rate:.3} ({} of {} must-keep strings kept)",
        total.kept, total.keep
    );
    for (title, groups) in [("by kind", &by_kind), ("by where", &by_where)] {
        println!("{title}:");
        for (name, t) in groups {
            println!("  {name:20} {}", t.line());
        }
    }
    if misses.is_empty() {
        println!("misses: none");
    }
    for (kind, list) in &misses {
        println!("misses, {kind}: {}", list.len());
        for m in list {
            println!("  {m}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Detection counts for one group of samples.
#[derive(Default)]
struct Tally {
    samples: usize,
    blocked: usize,
    warned: usize,
    misses: Vec<Value>,
}

impl Tally {
    fn json(&self) -> Value {
        json!({"samples": self.samples, "blocked": self.blocked, "warned": self.warned,
            "block_rate": ratio(self.blocked, self.samples), "misses": self.misses})
    }
}

/// What `portcullis eval guardrail` was asked.
pub struct GuardrailEval<'a> {
    pub corpus: Option<&'a Path>,
    pub config: Option<Config>,
    pub json: bool,
    pub list_rules: bool,
    /// The scorer on or off; `None` keeps the config's choice (or on).
    pub scorer: Option<bool>,
    /// The scorer's block threshold.
    pub threshold: Option<f32>,
    pub sweep: bool,
}

/// Precision, recall, false-positive rate and benign warn rate of verdicts.
fn figures(verdicts: &[(bool, Verdict)]) -> Value {
    let count = |injection: bool, v: Verdict| {
        verdicts
            .iter()
            .filter(|(i, x)| *i == injection && *x == v)
            .count()
    };
    let (tp, fp) = (count(true, Verdict::Block), count(false, Verdict::Block));
    let injections = verdicts.iter().filter(|(i, _)| *i).count();
    let benign = verdicts.len() - injections;
    json!({
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, injections),
        "false_positive_rate": if benign == 0 { 0.0 } else { fp as f64 / benign as f64 },
        "benign_warned": count(false, Verdict::Warn),
        "true_positives": tp, "false_positives": fp,
        "true_negatives": benign - fp, "false_negatives": injections - tp,
    })
}

pub fn guardrail(ask: GuardrailEval<'_>) -> anyhow::Result<ExitCode> {
    let configured = match ask.config {
        Some(config) => config.guardrail.engine,
        None => Arc::new(Guardrail::new(&[]).map_err(anyhow::Error::msg)?),
    };
    if ask.list_rules {
        for (id, category, severity) in configured.rules() {
            println!("{id:40} {category:13} {severity:?}");
        }
        println!(
            "{SCORER_RULE:40} {:13} High at or above the block threshold, else Medium",
            "(learned)"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let Some(corpus) = ask.corpus else {
        anyhow::bail!("give the corpus with --corpus FILE");
    };
    let model = Guardrail::built_in_scorer().map_err(anyhow::Error::msg)?;
    let mut thresholds = configured.scorer().map_or(model.calibrated, |s| s.1);
    if let Some(t) = ask.threshold {
        anyhow::ensure!(
            (0.0..=1.0).contains(&t),
            "--threshold must be between 0 and 1, not {t}"
        );
        thresholds.block = t;
        thresholds.warn = thresholds.warn.min(t);
    }
    let scorer_on = ask.scorer.unwrap_or(configured.scorer().is_some());
    // Scanned once with the scorer always reporting; each verdict is replayed at the
    // thresholds asked (see `Scan::verdict_at`).
    let always = Thresholds {
        block: 2.0,
        warn: 0.0,
    };
    let engine = (*configured)
        .clone()
        .with_scorer(Some((model.clone(), always)));
    let off = Thresholds {
        block: 2.0,
        warn: 2.0,
    };
    let chosen = if scorer_on { thresholds } else { off };
    let samples = samples(corpus)?;
    let started = std::time::Instant::now();
    let mut scanned = Vec::with_capacity(samples.len());
    for (line, sample) in &samples {
        let injection = match sample["label"].as_str() {
            Some("injection") => true,
            Some("benign") => false,
            _ => anyhow::bail!(
                "{}: line {line}: \"label\" must be \"injection\" or \"benign\"",
                corpus.display()
            ),
        };
        let text = sample["text"].as_str().unwrap_or_default();
        scanned.push((injection, engine.scan_text(text, "$")));
    }
    let elapsed = started.elapsed();
    if ask.sweep {
        let mut rows = vec![("off".to_string(), off)];
        rows.extend((1..=19).map(|i| {
            let block = i as f32 / 20.0;
            let t = Thresholds {
                block,
                warn: thresholds.warn.min(block),
            };
            (format!("{block:.2}"), t)
        }));
        let table: Vec<Value> = rows
            .iter()
            .map(|(name, t)| {
                let verdicts: Vec<_> = scanned
                    .iter()
                    .map(|(i, s)| (*i, s.verdict_at(*t)))
                    .collect();
                let mut f = figures(&verdicts);
                f["threshold"] = json!(name);
                f
            })
            .collect();
        if ask.json {
            println!(
                "{}",
                json!({"warn_threshold": thresholds.warn, "sweep": table})
            );
        } else {
            println!("block threshold  precision  recall  false-positive rate  benign warned");
            for row in &table {
                println!(
                    "{:>15}  {:9.3}  {:6.3}  {:19.4}  {:13}",
                    row["threshold"].as_str().unwrap_or_default(),
                    row["precision"].as_f64().unwrap_or_default(),
                    row["recall"].as_f64().unwrap_or_default(),
                    row["false_positive_rate"].as_f64().unwrap_or_default(),
                    row["benign_warned"]
                );
            }
            println!(
                "(warn threshold {:.3}; the calibrated block threshold is {:.3})",
                thresholds.warn, model.calibrated.block
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut categories: BTreeMap<String, Tally> = BTreeMap::new();
    let mut places: BTreeMap<String, Tally> = BTreeMap::new();
    let mut benign_kinds: BTreeMap<String, Tally> = BTreeMap::new();
    let mut false_positives = Vec::new();
    let mut verdicts = Vec::with_capacity(scanned.len());
    for ((line, sample), (injection, scan)) in samples.iter().zip(&scanned) {
        let verdict = scan.verdict_at(chosen);
        verdicts.push((*injection, verdict));
        let mut rules: Vec<&str> = scan
            .findings
            .iter()
            .filter(|f| f.score.is_none_or(|l| l.get() >= f64::from(chosen.warn)))
            .map(|f| f.rule)
            .collect();
        rules.sort_unstable();
        rules.dedup();
        let score = scan.findings.iter().filter_map(|f| f.score).max();
        let text = sample["text"].as_str().unwrap_or_default();
        let detail = json!({"line": line, "text": excerpt(text), "verdict": verdict,
            "rules": rules, "score": score.map(|l| l.get())});
        let label = |k: &str| sample[k].as_str().unwrap_or("unlabelled").to_string();
        let kind = if *injection { "injection" } else { "benign" };
        let by_label = if *injection {
            &mut categories
        } else {
            &mut benign_kinds
        };
        for t in [
            by_label.entry(label("category")).or_default(),
            places
                .entry(format!("{kind} {}", label("where")))
                .or_default(),
        ] {
            t.samples += 1;
            t.blocked += usize::from(verdict == Verdict::Block);
            t.warned += usize::from(verdict == Verdict::Warn);
            if *injection && verdict != Verdict::Block {
                t.misses.push(detail.clone());
            }
        }
        if !*injection && verdict == Verdict::Block {
            false_positives.push(detail);
        }
    }
    let mut report = figures(&verdicts);
    let groups = |m: &BTreeMap<String, Tally>| -> BTreeMap<String, Value> {
        m.iter().map(|(k, t)| (k.clone(), t.json())).collect()
    };
    if ask.json {
        report["samples"] = json!(samples.len());
        report["scorer"] = json!(scorer_on);
        report["thresholds"] = json!({"block": chosen.block, "warn": chosen.warn});
        report["categories"] = json!(groups(&categories));
        report["benign_categories"] = json!(groups(&benign_kinds));
        report["where"] = json!(groups(&places));
        report["false_positive_samples"] = json!(false_positives);
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    let f = |k: &str| report[k].as_f64().unwrap_or_default();
    let n = |k: &str| report[k].as_u64().unwrap_or_default();
    println!(
        "samples: {} ({} injection, {} benign), scanned in {:.1} ms; scorer {}",
        samples.len(),
        n("true_positives") + n("false_negatives"),
        n("false_positives") + n("true_negatives"),
        elapsed.as_secs_f64() * 1000.0,
        if scorer_on {
            format!("on (block {:.3}, warn {:.3})", chosen.block, chosen.warn)
        } else {
            "off".into()
        }
    );
    println!("precision: {:.3}", f("precision"));
    println!(
        "recall: {:.3} ({} of {} injections blocked)",
        f("recall"),
        n("true_positives"),
        n("true_positives") + n("false_negatives")
    );
    println!(
        "false-positive rate: {:.3} ({} of {} benign samples blocked; {} more warned)",
        f("false_positive_rate"),
        n("false_positives"),
        n("false_positives") + n("true_negatives"),
        n("benign_warned")
    );
    let show = |d: &Value| {
        let rules: Vec<&str> = d["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "    line {}: {} ({}; {}{})",
            d["line"],
            d["text"].as_str().unwrap_or_default(),
            d["verdict"].as_str().unwrap_or_default(),
            if rules.is_empty() {
                "no rule".to_string()
            } else {
                rules.join(", ")
            },
            d["score"]
                .as_f64()
                .map(|s| format!("; score {s:.3}"))
                .unwrap_or_default(),
        );
    };
    println!("injections by category:");
    for (name, t) in &categories {
        println!(
            "  {name}: recall {:.3} ({} of {})",
            ratio(t.blocked, t.samples),
            t.blocked,
            t.samples
        );
        t.misses.iter().for_each(show);
    }
    for (title, groups) in [("benign by category", &benign_kinds), ("by where", &places)] {
        println!("{title}:");
        for (name, t) in groups {
            println!(
                "  {name}: blocked {:.3}, warned {:.3} ({} samples)",
                ratio(t.blocked, t.samples),
                ratio(t.warned, t.samples),
                t.samples
            );
        }
    }
    println!("false positives: {}", false_positives.len());
    false_positives.iter().for_each(show);
    Ok(ExitCode::SUCCESS)
}

/// `portcullis eval poisoning`: the tool-poisoning scan over labelled definitions
/// (`{"tool": {...}, "label": "poisoned"|"benign", "style": ...}`). A definition counts as
/// detected when the scan finds a critical kind of poisoning in it (a lint finding that stops
/// its publication); the scorer's suspicion alone (`high`) is counted apart. Styles are grouped by what comes before `@` (`cross-tool@enum` is `cross-tool`).
pub fn poisoning(corpus: &Path, config: Option<Config>, json: bool) -> anyhow::Result<ExitCode> {
    let guardrail = match config {
        Some(config) => (*config.guardrail.engine).clone(),
        None => Guardrail::new(&[]).map_err(anyhow::Error::msg)?,
    };
    let scan = PoisonScan::new(guardrail).map_err(anyhow::Error::msg)?;
    let mut verdicts = Vec::new();
    let mut by_style: BTreeMap<(bool, String), Tally> = BTreeMap::new();
    // Definitions only the scorer suspects (a `high` finding), benign and poisoned.
    let mut suspected = [0usize; 2];
    for (line, sample) in samples_with(corpus, "tool", Value::is_object)? {
        let poisoned = match sample["label"].as_str() {
            Some("poisoned") => true,
            Some("benign") => false,
            _ => anyhow::bail!(
                "{}: line {line}: \"label\" must be \"poisoned\" or \"benign\"",
                corpus.display()
            ),
        };
        let found = scan.scan(&sample["tool"], &[]);
        let flagged = found.iter().any(|p| p.kind.is_critical());
        if !flagged && !found.is_empty() {
            suspected[usize::from(poisoned)] += 1;
        }
        verdicts.push((
            poisoned,
            if flagged {
                Verdict::Block
            } else {
                Verdict::Allow
            },
        ));
        let style = sample["style"]
            .as_str()
            .unwrap_or("(none)")
            .split('@')
            .next()
            .unwrap_or_default()
            .to_string();
        let tally = by_style.entry((poisoned, style)).or_default();
        tally.samples += 1;
        if flagged {
            tally.blocked += 1;
        }
        if flagged != poisoned || (!flagged && !found.is_empty()) {
            tally.misses.push(json!({
                "line": line,
                "tool": sample["tool"]["name"],
                "found": found.iter().map(|p| json!({"kind": p.kind.rule(), "path": p.path, "excerpt": p.excerpt})).collect::<Vec<_>>(),
            }));
        }
    }
    let mut report = figures(&verdicts);
    let group = |poisoned: bool| -> serde_json::Map<String, Value> {
        by_style
            .iter()
            .filter(|((p, _), _)| *p == poisoned)
            .map(|((_, style), t)| (style.clone(), t.json()))
            .collect()
    };
    report["suspected_only"] = json!({"benign": suspected[0], "poisoned": suspected[1]});
    report["poisoned_by_style"] = Value::Object(group(true));
    report["benign_by_style"] = Value::Object(group(false));
    if json {
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "precision {:.3}  recall {:.3}  false-positive rate {:.4}  ({} poisoned, {} benign)",
        report["precision"].as_f64().unwrap_or(0.0),
        report["recall"].as_f64().unwrap_or(0.0),
        report["false_positive_rate"].as_f64().unwrap_or(0.0),
        verdicts.iter().filter(|(p, _)| *p).count(),
        verdicts.iter().filter(|(p, _)| !*p).count(),
    );
    println!(
        "suspected by the scorer alone (a high finding, not counted above): {} benign, {} poisoned",
        suspected[0], suspected[1]
    );
    for (poisoned, title) in [(true, "poisoned, detected"), (false, "benign, flagged")] {
        println!("\n{title}, by style:");
        for ((_, style), t) in by_style.iter().filter(|((p, _), _)| *p == poisoned) {
            println!("  {style:24} {:>3} of {:>3}", t.blocked, t.samples);
        }
    }
    let misses: Vec<&Value> = by_style.values().flat_map(|t| &t.misses).collect();
    if !misses.is_empty() {
        println!("\nmisses (poisoned not found, benign flagged):");
        for m in misses {
            println!("  line {}: {} {}", m["line"], m["tool"], m["found"]);
        }
    }
    Ok(ExitCode::SUCCESS)
}

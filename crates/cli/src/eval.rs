//! `portcullis eval`: the redaction and guardrail engines measured on labelled corpora.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use portcullis::Config;
use portcullis::core::guardrail::{Guardrail, Verdict};
use portcullis::core::redact::{Counts, RedactionSettings, Redactor};
use serde_json::{Value, json};

/// The samples of a JSON Lines corpus, each with its line number; every one must have `text`.
fn samples(corpus: &Path) -> anyhow::Result<Vec<(usize, Value)>> {
    let text = std::fs::read_to_string(corpus)
        .with_context(|| format!("cannot read the corpus `{}`", corpus.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let sample: Value = serde_json::from_str(line)
            .with_context(|| format!("{}: line {} is not JSON", corpus.display(), i + 1))?;
        if !sample["text"].is_string() {
            anyhow::bail!(
                "{}: line {} has no \"text\" string",
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

/// Detection counts for one category of injection samples.
#[derive(Default)]
struct CategoryTally {
    samples: usize,
    blocked: usize,
    misses: Vec<Value>,
}

pub fn guardrail(
    corpus: Option<&Path>,
    config: Option<Config>,
    json: bool,
    list_rules: bool,
) -> anyhow::Result<ExitCode> {
    let engine = match config {
        Some(config) => config.guardrail.engine,
        None => Arc::new(Guardrail::new(&[]).map_err(anyhow::Error::msg)?),
    };
    if list_rules {
        for (id, category, severity) in engine.rules() {
            println!("{id:40} {category:13} {severity:?}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(corpus) = corpus else {
        anyhow::bail!("give the corpus with --corpus FILE");
    };
    let (mut tp, mut fp, mut tn, mut fn_) = (0, 0, 0, 0);
    let mut categories: BTreeMap<String, CategoryTally> = BTreeMap::new();
    let mut false_positives = Vec::new();
    let mut warned_benign = 0;
    let samples = samples(corpus)?;
    let started = std::time::Instant::now();
    for (line, sample) in &samples {
        let text = sample["text"].as_str().unwrap_or_default();
        let injection = match sample["label"].as_str() {
            Some("injection") => true,
            Some("benign") => false,
            _ => anyhow::bail!(
                "{}: line {line}: \"label\" must be \"injection\" or \"benign\"",
                corpus.display()
            ),
        };
        let scan = engine.scan_text(text, "$");
        let verdict = scan.verdict();
        let detail = json!({
            "line": line,
            "text": excerpt(text),
            "verdict": verdict,
            "rules": scan.rule_ids(),
        });
        if injection {
            let category = sample["category"].as_str().unwrap_or("unlabelled");
            let tally = categories.entry(category.to_string()).or_default();
            tally.samples += 1;
            if verdict == Verdict::Block {
                tp += 1;
                tally.blocked += 1;
            } else {
                fn_ += 1;
                tally.misses.push(detail);
            }
        } else if verdict == Verdict::Block {
            fp += 1;
            false_positives.push(detail);
        } else {
            tn += 1;
            warned_benign += usize::from(verdict == Verdict::Warn);
        }
    }
    let elapsed = started.elapsed();
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let fpr = if fp + tn == 0 {
        0.0
    } else {
        fp as f64 / (fp + tn) as f64
    };
    if json {
        let per_category: BTreeMap<&String, Value> = categories
            .iter()
            .map(|(name, t)| {
                (
                    name,
                    json!({"samples": t.samples, "blocked": t.blocked,
                        "recall": ratio(t.blocked, t.samples), "misses": t.misses}),
                )
            })
            .collect();
        println!(
            "{}",
            json!({
                "samples": samples.len(),
                "precision": precision,
                "recall": recall,
                "false_positive_rate": fpr,
                "true_positives": tp, "false_positives": fp,
                "true_negatives": tn, "false_negatives": fn_,
                "benign_warned": warned_benign,
                "categories": per_category,
                "false_positive_samples": false_positives,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "samples: {} ({} injection, {} benign), scanned in {:.1} ms",
        samples.len(),
        tp + fn_,
        fp + tn,
        elapsed.as_secs_f64() * 1000.0
    );
    println!("precision: {precision:.3}");
    println!(
        "recall: {recall:.3} ({tp} of {} injections blocked)",
        tp + fn_
    );
    println!(
        "false-positive rate: {fpr:.3} ({fp} of {} benign samples blocked; {warned_benign} more warned)",
        fp + tn
    );
    let show = |d: &Value| {
        println!(
            "    line {}: {} ({}; {})",
            d["line"],
            d["text"].as_str().unwrap_or_default(),
            d["verdict"].as_str().unwrap_or_default(),
            d["rules"]
                .as_array()
                .map(|r| r
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "no rule".into()),
        );
    };
    for (name, t) in &categories {
        println!(
            "  {name}: recall {:.3} ({} of {})",
            ratio(t.blocked, t.samples),
            t.blocked,
            t.samples
        );
        t.misses.iter().for_each(show);
    }
    println!("false positives: {}", false_positives.len());
    false_positives.iter().for_each(show);
    Ok(ExitCode::SUCCESS)
}

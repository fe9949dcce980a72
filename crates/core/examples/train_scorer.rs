//! Trains the guardrail's learned scorer (see `portcullis_core::guardrail::scorer`).
//!
//! ```text
//! cargo run --release -p portcullis-core --example train_scorer -- CORPUS_DIR DEV.jsonl OUT.bin
//! ```
//!
//! `CORPUS_DIR` holds `train.jsonl`, `val.jsonl` and `test.jsonl` as `scripts/scorer/corpus.py`
//! writes them; `DEV.jsonl` is a hand-written development corpus (hard look-alikes and attacks)
//! that is never trained on but calibrates and reports, for choosing settings. The scorer is a
//! logistic regression over hashed n-grams (trained with AdaGrad; an injection longer than one
//! window is trained on its most suspicious window), plus a softmax over the same features
//! naming the attack category. The quantised model's thresholds are calibrated on the
//! validation split's benign texts and the development set's (beyond what the rules alone do:
//! at most 0.5% of them all blocked, and of any one kind at most 2% blocked and 5% flagged), and
//! its figures printed for the validation and test splits, which it never trained on.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use std::sync::Arc;

use portcullis_core::guardrail::scorer::{
    CATEGORIES, Scorer, Thresholds, Trained, tokens, window_features, windows,
};
use portcullis_core::guardrail::{Guardrail, Scan, Verdict, normalize};
use serde_json::Value;

const CLASS_BITS: u32 = 14;

/// A setting, from the environment for experiments (`SCORER_BITS=16`), else its default.
fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Settings {
    bits: u32,
    epochs: usize,
    rate: f32,
    l2: f32,
}

static SETTINGS: std::sync::LazyLock<Settings> = std::sync::LazyLock::new(|| Settings {
    bits: setting("SCORER_BITS", 18),
    epochs: setting("SCORER_EPOCHS", 6),
    rate: setting("SCORER_RATE", 0.2),
    l2: setting("SCORER_L2", 1e-7),
});

/// Benign categories that look like attacks, weighted as a group of their own.
const HARD: &[&str] = &[
    "hard_negative",
    "procedure",
    "traffic",
    "sentence",
    "development",
    "seed",
];

struct Sample {
    injection: bool,
    category: Option<usize>,
    label: String,
    /// Each window's feature buckets (masked to `BITS`).
    windows: Vec<Vec<u32>>,
    text: String,
}

fn load(path: &Path) -> Result<Vec<Sample>, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| format!("{}: line {}: {e}", path.display(), i + 1))?;
        let text = v["text"].as_str().unwrap_or_default().to_string();
        let injection = v["label"] == "injection";
        let label = v["category"].as_str().unwrap_or("unlabelled").to_string();
        let category = CATEGORIES.iter().position(|c| c.as_str() == label);
        let normalized = normalize(&text);
        let toks = tokens(&normalized);
        let windows = windows(toks.len())
            .map(|w| {
                window_features(&toks, w)
                    .into_iter()
                    .map(|h| h & ((1 << SETTINGS.bits) - 1))
                    .collect()
            })
            .collect();
        out.push(Sample {
            injection,
            category,
            label,
            windows,
            text,
        });
    }
    Ok(out)
}

struct Model {
    w: Vec<f32>,
    g: Vec<f32>,
    b: f32,
    gb: f32,
}

impl Model {
    fn logit(&self, f: &[u32]) -> f32 {
        let n = (f.len().max(1) as f32).sqrt();
        self.b + f.iter().map(|&i| self.w[i as usize]).sum::<f32>() / n
    }

    fn step(&mut self, f: &[u32], y: f32, weight: f32) {
        let p = 1.0 / (1.0 + (-self.logit(f)).exp());
        let err = (p - y) * weight;
        let n = (f.len().max(1) as f32).sqrt();
        for &i in f {
            let i = i as usize;
            let g = err / n + SETTINGS.l2 * self.w[i];
            self.g[i] += g * g;
            self.w[i] -= SETTINGS.rate * g / (self.g[i].sqrt() + 1e-6);
        }
        self.gb += err * err;
        self.b -= SETTINGS.rate * err / (self.gb.sqrt() + 1e-6);
    }
}

/// A small deterministic generator for shuffling.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn train_binary(samples: &[Sample]) -> Model {
    let mut m = Model {
        w: vec![0.0; 1 << SETTINGS.bits],
        g: vec![0.0; 1 << SETTINGS.bits],
        b: 0.0,
        gb: 0.0,
    };
    // Three groups weigh the same in the loss: attacks, benign look-alikes (short traffic,
    // hard negatives, the development corpus), and benign documents and code (many windows).
    let hard = |s: &Sample| !s.injection && HARD.contains(&s.label.as_str());
    let positives = samples.iter().filter(|s| s.injection).count() as f32;
    let look_alikes = samples.iter().filter(|s| hard(s)).count() as f32;
    let documents = samples
        .iter()
        .filter(|s| !s.injection && !hard(s))
        .map(|s| s.windows.len())
        .sum::<usize>() as f32;
    let total = positives + look_alikes + documents;
    let (wp, wh, wd) = (
        total / (3.0 * positives),
        total / (3.0 * look_alikes.max(1.0)),
        total / (3.0 * documents.max(1.0)),
    );
    let mut order: Vec<usize> = (0..samples.len()).collect();
    let mut rng = Lcg(7);
    for epoch in 0..SETTINGS.epochs {
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for &i in &order {
            let s = &samples[i];
            if s.injection {
                // The most suspicious window carries the attack.
                let best = s
                    .windows
                    .iter()
                    .max_by(|a, b| m.logit(a).total_cmp(&m.logit(b)));
                if let Some(f) = best {
                    m.step(f, 1.0, wp);
                }
            } else {
                let weight = if hard(s) { wh } else { wd };
                for f in &s.windows {
                    m.step(f, 0.0, weight);
                }
            }
        }
        eprintln!("epoch {} done", epoch + 1);
    }
    m
}

fn train_categories(samples: &[Sample], binary: &Model) -> (Vec<f32>, Vec<f32>) {
    let k = CATEGORIES.len();
    let mask = (1u32 << CLASS_BITS) - 1;
    let mut w = vec![0.0f32; (1 << CLASS_BITS) * k];
    let mut g = vec![0.0f32; w.len()];
    let mut b = vec![0.0f32; k];
    let labelled: Vec<(&Vec<u32>, usize)> = samples
        .iter()
        .filter(|s| s.injection)
        .filter_map(|s| {
            let best = s
                .windows
                .iter()
                .max_by(|x, y| binary.logit(x).total_cmp(&binary.logit(y)))?;
            Some((best, s.category?))
        })
        .collect();
    for _ in 0..SETTINGS.epochs {
        for &(f, y) in &labelled {
            let mut logits = b.clone();
            for &h in f {
                let at = (h & mask) as usize * k;
                for (l, wv) in logits.iter_mut().zip(&w[at..at + k]) {
                    *l += wv;
                }
            }
            let max = logits.iter().fold(f32::MIN, |a, &x| a.max(x));
            let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
            let sum: f32 = exp.iter().sum();
            for c in 0..k {
                let err = exp[c] / sum - if c == y { 1.0 } else { 0.0 };
                b[c] -= 0.05 * err;
                for &h in f {
                    let i = (h & mask) as usize * k + c;
                    g[i] += err * err;
                    w[i] -= 0.1 * err / (g[i].sqrt() + 1e-6);
                }
            }
        }
    }
    (w, b)
}

fn report(name: &str, samples: &[Sample], scorer: &Arc<Scorer>) -> Result<(), String> {
    let t = scorer.calibrated;
    let signals = scans(samples, scorer)?;
    let mut by: BTreeMap<String, (usize, usize, usize, usize)> = BTreeMap::new();
    for (s, sig) in samples.iter().zip(&signals) {
        let kind = if s.injection { "injection" } else { "benign" };
        let e = by.entry(format!("{kind} {}", s.label)).or_default();
        e.0 += 1;
        e.1 += usize::from(sig.verdict_at(t) == Verdict::Block);
        e.2 += usize::from(sig.verdict_at(t) >= Verdict::Warn);
        let off = Thresholds {
            block: 2.0,
            warn: 2.0,
        };
        e.3 += usize::from(sig.verdict_at(off) == Verdict::Block);
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let total = |injection: bool| {
        samples
            .iter()
            .zip(&signals)
            .filter(|(s, _)| s.injection == injection)
            .fold((0, 0), |(n, b), (_, sig)| {
                (n + 1, b + usize::from(sig.verdict_at(t) == Verdict::Block))
            })
    };
    let ((ni, bi), (nb, bb)) = (total(true), total(false));
    println!(
        "{name}: recall {:.3} ({bi} of {ni}), false-positive rate {:.4} ({bb} of {nb})",
        ratio(bi, ni),
        ratio(bb, nb)
    );
    println!(
        "  {:32} {:>6}  {:>7}  {:>7}  {:>10}",
        "kind", "n", "blocked", "flagged", "rules only"
    );
    for (key, (n, blocked, flagged, rules)) in &by {
        println!(
            "  {key:32} {n:6}  {:7.3}  {:7.3}  {:10.3}",
            ratio(*blocked, *n),
            ratio(*flagged, *n),
            ratio(*rules, *n)
        );
    }
    Ok(())
}

/// Each sample scanned once with the scorer always reporting (warn threshold 0, block
/// never), so that [`Scan::verdict_at`] replays the gateway's decision at any thresholds.
fn scans(samples: &[Sample], scorer: &Arc<Scorer>) -> Result<Vec<Scan>, String> {
    let always = Thresholds {
        block: 2.0,
        warn: 0.0,
    };
    let guardrail = Guardrail::new(&[])?.with_scorer(Some((scorer.clone(), always)));
    Ok(samples
        .iter()
        .map(|s| guardrail.scan_text(&s.text, "$"))
        .collect())
}

/// Benign kinds of the validation set with at least this many texts are each held to the caps
/// below.
const KIND_MIN: usize = 50;
/// What the scorer may add, to what the rules alone block or flag, of any one benign kind of the
/// validation set, and of the development set's benign texts: a threshold that blocks or flags
/// one kind of ordinary text wholesale (procedures addressed to support agents, say) is refused
/// even when the kind is too small to move the overall rate.
const KIND_BLOCK_CAP: f64 = 0.02;
const KIND_WARN_CAP: f64 = 0.05;
/// What the scorer may add to what the rules alone block of all the validation set's benign texts.
const BLOCK_CAP: f64 = 0.005;

/// The thresholds that block the most attacks of the validation and development sets within the
/// caps above.
fn calibrate(val: &[Sample], vs: &[Scan], dev: &[Sample], ds: &[Scan]) -> Thresholds {
    // The groups of benign texts held to a cap, each as (its scans, the cap on what the scorer
    // adds to its blocks): every large enough kind of the validation set, the development
    // set's, and the validation set's as a whole.
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for s in val.iter().filter(|s| !s.injection) {
        *kinds.entry(s.label.as_str()).or_default() += 1;
    }
    fn pick<'a>(
        samples: &[Sample],
        scans: &'a [Scan],
        keep: impl Fn(&Sample) -> bool,
    ) -> Vec<&'a Scan> {
        samples
            .iter()
            .zip(scans)
            .filter(|(s, _)| keep(s))
            .map(|(_, scan)| scan)
            .collect()
    }
    let mut groups: Vec<(Vec<&Scan>, f64)> = kinds
        .iter()
        .filter(|(_, n)| **n >= KIND_MIN)
        .map(|(kind, _)| {
            let scans = pick(val, vs, |s| !s.injection && s.label == *kind);
            (scans, KIND_BLOCK_CAP)
        })
        .collect();
    groups.push((pick(dev, ds, |s| !s.injection), KIND_BLOCK_CAP));
    groups.push((pick(val, vs, |s| !s.injection), BLOCK_CAP));
    let attacks = [
        pick(val, vs, |s| s.injection),
        pick(dev, ds, |s| s.injection),
    ];
    let rate = |scans: &[&Scan], t, at: Verdict| {
        scans.iter().filter(|scan| scan.verdict_at(t) >= at).count() as f64
            / scans.len().max(1) as f64
    };
    let off = Thresholds {
        block: 2.0,
        warn: 2.0,
    };
    let base: Vec<(f64, f64)> = groups
        .iter()
        .map(|(scans, _)| {
            (
                rate(scans, off, Verdict::Block),
                rate(scans, off, Verdict::Warn),
            )
        })
        .collect();
    let mut best = (-1.0, off);
    for b in (15..=49).map(|i| i as f32 / 50.0) {
        for w in (1..=19).map(|i| i as f32 / 20.0).filter(|&w| w <= b) {
            let t = Thresholds { block: b, warn: w };
            let allowed = groups
                .iter()
                .zip(&base)
                .all(|((scans, cap), (block, warn))| {
                    rate(scans, t, Verdict::Block) <= block + cap
                        && rate(scans, t, Verdict::Warn) <= warn + KIND_WARN_CAP
                });
            if !allowed {
                continue;
            }
            let recall: f64 = attacks.iter().map(|a| rate(a, t, Verdict::Block)).sum();
            if recall > best.0 {
                best = (recall, t);
            }
        }
    }
    best.1
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, dev, out] = args.as_slice() else {
        return Err("usage: train_scorer CORPUS_DIR DEV.jsonl OUT.bin".into());
    };
    let dir = Path::new(dir);
    let train = load(&dir.join("train.jsonl"))?;
    let val = load(&dir.join("val.jsonl"))?;
    let test = load(&dir.join("test.jsonl"))?;
    let dev = load(Path::new(dev))?;
    eprintln!(
        "{} training samples ({} windows)",
        train.len(),
        train.iter().map(|s| s.windows.len()).sum::<usize>()
    );
    let binary = train_binary(&train);
    let (class_weights, class_bias) = train_categories(&train, &binary);
    let mut trained = Trained {
        weights: binary.w.clone(),
        bias: binary.b,
        class_weights,
        class_bias,
        calibrated: Thresholds {
            block: 0.5,
            warn: 0.5,
        },
    };
    // Calibrated with the quantised model and the rules, exactly as the gateway decides.
    let draft = Arc::new(Scorer::load(&Scorer::save(&trained))?);
    let val_signals = scans(&val, &draft)?;
    let dev_signals = scans(&dev, &draft)?;
    trained.calibrated = calibrate(&val, &val_signals, &dev, &dev_signals);
    let bytes = Scorer::save(&trained);
    std::fs::write(out, &bytes).map_err(|e| format!("cannot write {out}: {e}"))?;
    let scorer = Arc::new(Scorer::load(&bytes)?);
    println!(
        "model: {} bytes, block at {:.3}, warn at {:.3}",
        bytes.len(),
        scorer.calibrated.block,
        scorer.calibrated.warn
    );
    report("validation", &val, &scorer)?;
    report("development (hand-written)", &dev, &scorer)?;
    report("test (held out)", &test, &scorer)?;
    // Sources held out whole (scripts/scorer/external.py): text by authors never trained on.
    for (name, file) in [
        ("others (held out whole)", "others.jsonl"),
        ("blind (held out whole)", "blind.jsonl"),
    ] {
        let path = dir.join(file);
        if path.exists() {
            report(name, &load(&path)?, &scorer)?;
        }
    }
    Ok(())
}

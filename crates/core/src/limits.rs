//! Rate limits and budgets: token buckets, keyed, checked all at once.
//!
//! A call draws from several buckets (per caller, per caller×tool, per tool, global, and the
//! caller's budget of cost units). [`Limiter::acquire`] first checks every bucket and only then
//! draws from all of them, so a call refused by one limit consumes nothing from any other. (A
//! GCRA crate such as governor draws as it checks, which cannot give that guarantee across
//! several limiters.) Time comes in as a parameter; memory stays bounded: buckets idle long
//! enough to be full again are dropped, and past a cap the least recently used go first.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

/// `COUNT` events per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u64,
    pub per: Duration,
}

impl Rate {
    /// Parses `COUNT/UNIT`: a whole number above zero, and `s`, `sec`, `second(s)`, `m`, `min`,
    /// `minute(s)`, `h`, `hour(s)`, `d` or `day(s)`.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let bad = || {
            format!(
                "`{text}` is not a rate; write it like `60/min`, `5/s`, `1000/hour` or `10000/day`"
            )
        };
        let (count, unit) = text.split_once('/').ok_or_else(bad)?;
        let count: u64 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!("`{text}`: the count must be above zero"));
        }
        let per = match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" | "seconds" => Duration::from_secs(1),
            "m" | "min" | "minute" | "minutes" => Duration::from_secs(60),
            "h" | "hour" | "hours" => Duration::from_secs(3600),
            "d" | "day" | "days" => Duration::from_secs(86_400),
            other => {
                return Err(format!(
                    "`{text}`: unknown unit `{other}`; use s, min, hour or day"
                ));
            }
        };
        Ok(Rate { count, per })
    }

    fn per_second(&self) -> f64 {
        self.count as f64 / self.per.as_secs_f64()
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "hour",
            _ => "day",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// Which limit a bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitKind {
    PerCaller,
    PerCallerTool,
    PerTool,
    Global,
    Budget,
    /// Requests refused for missing or bad credentials, per source address.
    Unauthenticated,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::PerCaller => "per_caller",
            LimitKind::PerCallerTool => "per_caller_tool",
            LimitKind::PerTool => "per_tool",
            LimitKind::Global => "global",
            LimitKind::Budget => "budget",
            LimitKind::Unauthenticated => "unauthenticated",
        }
    }
}

/// One draw a call wants to make.
#[derive(Debug, Clone)]
pub struct Draw {
    pub kind: LimitKind,
    /// Whose bucket: the caller, `caller tool`, the tool, or empty for global.
    pub key: String,
    pub rate: Rate,
    pub cost: f64,
}

/// A refusal: which limit, and when the same call could go through.
#[derive(Debug, Clone, PartialEq)]
pub struct Limited {
    pub kind: LimitKind,
    pub retry_after: Duration,
}

impl fmt::Display for Limited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate limited ({}); retry in {}s",
            self.kind.as_str(),
            self.retry_after.as_secs_f64().ceil() as u64
        )
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    /// When `tokens` was last brought up to date.
    at: Duration,
}

impl Bucket {
    fn tokens_at(&self, now: Duration) -> f64 {
        let elapsed = now.saturating_sub(self.at).as_secs_f64();
        (self.tokens + elapsed * self.per_second).min(self.capacity)
    }
}

/// Current use of one bucket, for `portcullis limits status`.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub kind: LimitKind,
    pub key: String,
    pub used: f64,
    pub capacity: f64,
}

/// All buckets.
#[derive(Debug)]
pub struct Limiter {
    buckets: Mutex<HashMap<(LimitKind, String), Bucket>>,
    max_buckets: usize,
}

impl Limiter {
    pub fn new(max_buckets: usize) -> Limiter {
        Limiter {
            buckets: Mutex::default(),
            max_buckets: max_buckets.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(LimitKind, String), Bucket>> {
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Draws from every bucket in `draws`, or from none. `now` is any monotonic clock.
    pub fn acquire(&self, draws: &[Draw], now: Duration) -> Result<(), Limited> {
        let mut buckets = self.lock();
        let mut refusal: Option<Limited> = None;
        for d in draws {
            let capacity = d.rate.count as f64;
            let available = buckets
                .get(&(d.kind, d.key.clone()))
                .map_or(capacity, |b| b.tokens_at(now));
            if available + 1e-9 < d.cost {
                let wait = if d.cost > capacity {
                    // Never affordable: the cost is above the bucket's size.
                    d.rate.per
                } else {
                    Duration::from_secs_f64((d.cost - available) / d.rate.per_second())
                };
                if refusal.as_ref().is_none_or(|r| wait > r.retry_after) {
                    refusal = Some(Limited {
                        kind: d.kind,
                        retry_after: wait,
                    });
                }
            }
        }
        if let Some(limited) = refusal {
            return Err(limited);
        }
        for d in draws {
            let capacity = d.rate.count as f64;
            let per_second = d.rate.per_second();
            let bucket = buckets
                .entry((d.kind, d.key.clone()))
                .or_insert_with(|| Bucket {
                    tokens: capacity,
                    capacity,
                    per_second,
                    at: now,
                });
            bucket.tokens = bucket.tokens_at(now) - d.cost;
            bucket.capacity = capacity;
            bucket.per_second = per_second;
            bucket.at = now;
        }
        if buckets.len() > self.max_buckets {
            evict(&mut buckets, now, self.max_buckets);
        }
        Ok(())
    }

    /// Drops buckets that are full again (they hold nothing worth remembering).
    pub fn evict_idle(&self, now: Duration) {
        let mut buckets = self.lock();
        buckets.retain(|_, b| b.tokens_at(now) < b.capacity);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Forgets what the caller `who` (a principal's id, or `anonymous@address`) has drawn:
    /// its own buckets, its per-tool ones and its budget, so that it starts afresh. Shared
    /// buckets (per tool, global) are left alone. Returns how many buckets were forgotten.
    pub fn reset(&self, who: &str) -> usize {
        let mut buckets = self.lock();
        let before = buckets.len();
        buckets.retain(|(kind, key), _| match kind {
            LimitKind::PerCaller | LimitKind::Budget => key != who,
            LimitKind::PerCallerTool => key
                .strip_prefix(who)
                .is_none_or(|rest| !rest.starts_with(' ')),
            LimitKind::PerTool | LimitKind::Global | LimitKind::Unauthenticated => true,
        });
        before - buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every bucket in use, by kind and key.
    pub fn usage(&self, now: Duration) -> Vec<Usage> {
        let buckets = self.lock();
        let mut out: Vec<Usage> = buckets
            .iter()
            .map(|((kind, key), b)| Usage {
                kind: *kind,
                key: key.clone(),
                used: b.capacity - b.tokens_at(now),
                capacity: b.capacity,
            })
            .filter(|u| u.used > 1e-9)
            .collect();
        out.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
        out
    }
}

fn evict(buckets: &mut HashMap<(LimitKind, String), Bucket>, now: Duration, max: usize) {
    buckets.retain(|_, b| b.tokens_at(now) < b.capacity);
    if buckets.len() > max {
        // Still too many: forget the least recently drawn ones.
        let mut by_age: Vec<((LimitKind, String), Duration)> =
            buckets.iter().map(|(k, b)| (k.clone(), b.at)).collect();
        by_age.sort_by_key(|(_, at)| *at);
        for (key, _) in by_age.into_iter().take(buckets.len() - max) {
            buckets.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(kind: LimitKind, key: &str, rate: &str, cost: f64) -> Draw {
        Draw {
            kind,
            key: key.into(),
            rate: Rate::parse(rate).unwrap(),
            cost,
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn parses_rates_and_names_bad_ones() {
        assert_eq!(
            Rate::parse("60/min").unwrap(),
            Rate {
                count: 60,
                per: S(60)
            }
        );
        assert_eq!(Rate::parse("5/s").unwrap().per, S(1));
        assert_eq!(Rate::parse("1000/hour").unwrap().count, 1000);
        assert_eq!(Rate::parse("10000/day").unwrap().per, S(86_400));
        assert_eq!(Rate::parse("10 / Minutes").unwrap().per, S(60));
        for bad in [
            "",
            "abc",
            "/min",
            "0/min",
            "-1/min",
            "1.5/min",
            "10/decade",
            "10 per minute",
            "10/week",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad:?} parsed");
        }
        assert!(Rate::parse("0/s").unwrap_err().contains("above zero"));
        assert!(
            Rate::parse("10/decade")
                .unwrap_err()
                .contains("unknown unit")
        );
    }

    #[test]
    fn a_burst_then_refill() {
        let l = Limiter::new(100);
        let d = [draw(LimitKind::PerCaller, "alice", "3/min", 1.0)];
        for _ in 0..3 {
            assert!(l.acquire(&d, S(0)).is_ok());
        }
        let refused = l.acquire(&d, S(0)).unwrap_err();
        assert_eq!(refused.kind, LimitKind::PerCaller);
        assert_eq!(refused.retry_after, S(20));
        assert!(l.acquire(&d, S(19)).is_err());
        assert!(l.acquire(&d, S(20)).is_ok());
        // Other callers have their own bucket.
        assert!(
            l.acquire(&[draw(LimitKind::PerCaller, "bob", "3/min", 1.0)], S(20))
                .is_ok()
        );
    }

    #[test]
    fn a_refused_call_consumes_nothing() {
        let l = Limiter::new(100);
        let caller = draw(LimitKind::PerCaller, "alice", "10/min", 1.0);
        let tool = draw(LimitKind::PerCallerTool, "alice t", "1/min", 1.0);
        assert!(l.acquire(&[caller.clone(), tool.clone()], S(0)).is_ok());
        for _ in 0..5 {
            assert_eq!(
                l.acquire(&[caller.clone(), tool.clone()], S(0))
                    .unwrap_err()
                    .kind,
                LimitKind::PerCallerTool
            );
        }
        // The per-caller bucket lost only the one successful call.
        let usage = l.usage(S(0));
        let per_caller = usage
            .iter()
            .find(|u| u.kind == LimitKind::PerCaller)
            .unwrap();
        assert!((per_caller.used - 1.0).abs() < 1e-9, "{usage:?}");
    }

    #[test]
    fn budgets_charge_the_cost() {
        let l = Limiter::new(100);
        let budget = |cost| draw(LimitKind::Budget, "alice", "10/hour", cost);
        assert!(l.acquire(&[budget(4.0)], S(0)).is_ok());
        assert!(l.acquire(&[budget(4.0)], S(0)).is_ok());
        let refused = l.acquire(&[budget(4.0)], S(0)).unwrap_err();
        assert_eq!(refused.kind, LimitKind::Budget);
        assert_eq!(refused.retry_after, S(720));
        assert!(l.acquire(&[budget(2.0)], S(0)).is_ok());
        assert_eq!(
            l.acquire(&[budget(11.0)], S(0)).unwrap_err().retry_after,
            S(3600)
        );
    }

    #[test]
    fn the_longest_wait_is_reported() {
        let l = Limiter::new(100);
        let a = draw(LimitKind::PerCaller, "x", "1/s", 1.0);
        let b = draw(LimitKind::Global, "", "1/min", 1.0);
        assert!(l.acquire(&[a.clone(), b.clone()], S(0)).is_ok());
        assert_eq!(
            l.acquire(&[a, b], S(0)).unwrap_err().kind,
            LimitKind::Global
        );
    }

    #[test]
    fn idle_keys_expire_and_memory_stays_bounded() {
        let l = Limiter::new(50);
        for i in 0..40 {
            l.acquire(
                &[draw(LimitKind::PerCaller, &format!("c{i}"), "10/min", 1.0)],
                S(0),
            )
            .unwrap();
        }
        assert_eq!(l.len(), 40);
        l.evict_idle(S(5));
        assert_eq!(l.len(), 40, "not full again yet");
        l.evict_idle(S(7));
        assert_eq!(l.len(), 0, "full again after 6 s: forgotten");
        for i in 0..500 {
            l.acquire(
                &[draw(
                    LimitKind::PerCaller,
                    &format!("flood{i}"),
                    "10/min",
                    1.0,
                )],
                S(i),
            )
            .unwrap();
            assert!(l.len() <= 50);
        }
    }

    #[test]
    fn a_reset_forgets_one_callers_buckets_only() {
        let limiter = Limiter::new(100);
        let rate = Rate::parse("1/min").unwrap();
        let draw = |kind, key: &str| Draw {
            kind,
            key: key.into(),
            rate,
            cost: 1.0,
        };
        let now = Duration::from_secs(1);
        for who in ["key_a", "key_ab"] {
            limiter
                .acquire(
                    &[
                        draw(LimitKind::PerCaller, who),
                        draw(LimitKind::PerCallerTool, &format!("{who} demo_echo")),
                        draw(LimitKind::Budget, who),
                    ],
                    now,
                )
                .unwrap();
        }
        limiter
            .acquire(&[draw(LimitKind::PerTool, "demo_echo")], now)
            .unwrap();
        assert!(
            limiter
                .acquire(&[draw(LimitKind::PerCaller, "key_a")], now)
                .is_err()
        );
        assert_eq!(limiter.reset("key_a"), 3);
        assert_eq!(limiter.reset("key_a"), 0);
        limiter
            .acquire(&[draw(LimitKind::PerCaller, "key_a")], now)
            .unwrap();
        assert!(
            limiter
                .acquire(&[draw(LimitKind::PerCaller, "key_ab")], now)
                .is_err(),
            "another caller whose id starts alike keeps its use"
        );
        assert!(
            limiter
                .acquire(&[draw(LimitKind::PerTool, "demo_echo")], now)
                .is_err()
        );
    }
}

//! Verdicts as data: which rule judged a site or caller suspect, and the
//! figures it weighed. The English sentence is written once, in JavaScript
//! (`lib/shared/verdicts.js`), from these objects; Rust says no words.
//!
//! The outlier tests are exchangeability tests (Fisher's exact test, or the
//! order-statistics bound it reduces to): no lifetime distribution is
//! assumed. Two groups of entries whose fate at an age is known (removed
//! before it, or outlived it: removed after it, expired, or live and older)
//! are exchangeable when nothing is wrong; the chance that the `fresh` group
//! holds at least `k` of all the entries that outlived the age is a
//! hypergeometric tail. With no reference entry past the age, it is
//! 1/C(m+k, k) for k fresh entries that all outlived m reference ones.
//! A verdict is given when that chance is at most [`FALSE_ALARM`].

use crate::lifetimes::Quantiles;
use serde::Serialize;

/// Figures are plain JS numbers (exact up to 2^53), not BigInts.
pub type Number = f64;

/// The false-alarm bound of each test: a clean caller (or site) is judged
/// suspect by one test of one report with at most this probability.
pub const FALSE_ALARM: f64 = 1e-6;

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Site,
    Caller,
}

/// What the entries judged were compared with.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Versus {
    /// The lifetimes of the same caller's (or site's) removed entries.
    OwnHistory,
    /// The entries of the same site's other callers.
    OtherCallers,
}

/// The figures one test weighed. Counts are entries seen (a sampled map's
/// recorded entries), not the weighted estimates the report's rows show.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub versus: Versus,
    /// The age judged at: max(outlierFloorMs, outlierFactor x p99), or the
    /// TTL when that is shorter (an expired entry then outlived it).
    pub older_than_ms: Number,
    /// Reference entries whose fate at that age is known ...
    pub reference: Number,
    /// ... and how many of them outlived it.
    pub reference_beyond: Number,
    /// The reference's removed entries: how many, p99, p99.9, max lifetime.
    pub lifetimes: Number,
    pub p99_ms: Number,
    pub p999_ms: Number,
    pub max_ms: Number,
    /// Judged entries whose fate at that age is known, and how many of them
    /// outlived it.
    pub entries: Number,
    pub beyond: Number,
    /// How many of `entries` would outlive the age if they were like the
    /// reference: entries x (referenceBeyond + 1) / (reference + 1).
    pub expected: Number,
    /// The chance of `beyond` or more when nothing is wrong.
    pub chance: Number,
    /// The verdict's threshold on `chance` ([`FALSE_ALARM`]).
    pub bound: Number,
}

impl Evidence {
    pub fn convicts(&self) -> bool {
        self.beyond > 0.0 && self.chance <= self.bound
    }
}

/// A verdict: `{ rule, scope, ...figures }`. `estimated` marks figures that
/// are weighted estimates (sampled call sites).
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(tag = "rule")]
pub enum Verdict {
    /// Nothing of the site was ever removed (scope `site`, no evidence
    /// needed), or this caller removed nothing while its entries outlived
    /// what the site's other callers' entries do (scope `caller`).
    #[serde(rename = "never-removed", rename_all = "camelCase")]
    NeverRemoved {
        scope: Scope,
        live: Number,
        expired: Number,
        oldest_ms: Option<Number>,
        estimated: bool,
        evidence: Option<Evidence>,
    },
    /// Live entries older than the age judged at, more than the caller's
    /// (or site's) history or its site's other callers make likely.
    #[serde(rename = "outliers", rename_all = "camelCase")]
    Outliers {
        scope: Scope,
        /// Live entries older than `evidence.olderThanMs` (weighted), and
        /// whether more may be (counting stops at 1,000 per stack).
        count: Number,
        more: bool,
        oldest_ms: Option<Number>,
        estimated: bool,
        evidence: Evidence,
    },
    /// At least `expiryShare` of the ended entries expired instead of being
    /// removed.
    #[serde(rename = "expiry-share", rename_all = "camelCase")]
    ExpiryShare {
        scope: Scope,
        expired: Number,
        removed: Number,
        /// expired / (expired + removed)
        share: Number,
        estimated: bool,
    },
}

impl Verdict {
    pub fn is_expiry_share(&self) -> bool {
        matches!(self, Verdict::ExpiryShare { .. })
    }
}

/// Entries of one group whose fate at an age is known, and how many of them
/// outlived it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AtAge {
    pub known: u64,
    pub beyond: u64,
}

impl AtAge {
    pub fn plus(self, other: AtAge) -> AtAge {
        AtAge {
            known: self.known + other.known,
            beyond: self.beyond + other.beyond,
        }
    }
}

/// The test of `fresh` against `reference` at `older_than_ms`.
pub fn weigh(
    versus: Versus,
    older_than_ms: u64,
    reference: AtAge,
    fresh: AtAge,
    lifetimes: &Quantiles,
) -> Evidence {
    Evidence {
        versus,
        older_than_ms: older_than_ms as Number,
        reference: reference.known as Number,
        reference_beyond: reference.beyond as Number,
        lifetimes: lifetimes.count as Number,
        p99_ms: lifetimes.p99_ms as Number,
        p999_ms: lifetimes.p999_ms as Number,
        max_ms: lifetimes.max_ms as Number,
        entries: fresh.known as Number,
        beyond: fresh.beyond as Number,
        expected: fresh.known as f64 * (reference.beyond + 1) as f64 / (reference.known + 1) as f64,
        chance: chance_of_as_many_beyond(reference, fresh),
        bound: FALSE_ALARM,
    }
}

/// The chance that `fresh` holds at least `fresh.beyond` of the entries
/// (of both groups) that outlived the age, when both groups are alike:
/// P(H >= k) for H hypergeometric (population m + n, n of them fresh,
/// j + k drawn), one-sided Fisher. Distribution-free.
pub fn chance_of_as_many_beyond(reference: AtAge, fresh: AtAge) -> f64 {
    let (m, j) = (reference.known, reference.beyond.min(reference.known));
    let (n, k) = (fresh.known, fresh.beyond.min(fresh.known));
    if k == 0 {
        return 1.0;
    }
    let drawn = j + k;
    // At or below the mean nothing is surprising (and the tail's terms then
    // rise before they fall: summing from k would be long).
    if k as f64 <= drawn as f64 * n as f64 / (m + n) as f64 {
        return 1.0;
    }
    let total = ln_choose(m + n, drawn);
    let mut sum = 0.0;
    // Past the mean the terms only fall: stop when they no longer count.
    for i in k..=n.min(drawn) {
        let term = (ln_choose(n, i) + ln_choose(m, drawn - i) - total).exp();
        sum += term;
        if term <= sum * 1e-12 {
            break;
        }
    }
    sum.min(1.0)
}

/// ln C(n, k).
fn ln_choose(n: u64, k: u64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

/// ln n!: exact sums below 64, Stirling's series above (error below 1e-12).
fn ln_factorial(n: u64) -> f64 {
    if n < 64 {
        return (2..=n).map(|i| (i as f64).ln()).sum();
    }
    let x = n as f64;
    x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x * x * x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(known: u64, beyond: u64) -> AtAge {
        AtAge { known, beyond }
    }

    fn choose(n: u64, k: u64) -> f64 {
        (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
    }

    #[test]
    fn factorials_agree_with_exact_products() {
        for n in [0u64, 1, 5, 63, 64, 65, 100, 170] {
            let exact: f64 = (1..=n).map(|i| (i as f64).ln()).sum();
            assert!((ln_factorial(n) - exact).abs() < 1e-9, "{n}");
        }
    }

    /// k fresh entries that all outlived m reference entries: 1/C(m+k, k).
    #[test]
    fn all_fresh_beyond_a_clean_reference_is_one_over_m_plus_k_choose_k() {
        for (m, k) in [(20u64, 1u64), (20, 3), (1_000, 2), (50, 10)] {
            let p = chance_of_as_many_beyond(at(m, 0), at(k, k));
            let exact = 1.0 / choose(m + k, k);
            assert!((p - exact).abs() <= exact * 1e-9, "{m} {k}: {p} vs {exact}");
        }
    }

    /// Against a direct sum of the hypergeometric tail.
    #[test]
    fn the_tail_is_fishers_one_sided_p_value() {
        let (m, j, n, k) = (300u64, 4u64, 200u64, 9u64);
        let drawn = j + k;
        let exact: f64 = (k..=drawn)
            .map(|i| choose(n, i) * choose(m, drawn - i) / choose(m + n, drawn))
            .sum();
        let p = chance_of_as_many_beyond(at(m, j), at(n, k));
        assert!((p - exact).abs() <= exact * 1e-9, "{p} vs {exact}");
        // As many beyond as the groups' sizes make likely: no surprise.
        assert_eq!(chance_of_as_many_beyond(at(1_000, 10), at(1_000, 10)), 1.0);
        assert_eq!(chance_of_as_many_beyond(at(1_000, 10), at(1_000, 0)), 1.0);
    }

    /// Simulated clean groups (the same lifetimes for both) are convicted no
    /// more often than the bound says, and 1 in 1000 stays below 1/1000.
    #[test]
    fn clean_groups_are_convicted_at_most_at_the_stated_rate() {
        let mut seed = 11u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut below_a_thousandth, runs) = (0, 4_000);
        for _ in 0..runs {
            // Each entry outlives the age with probability 2%.
            let mut draw = |n: u64| AtAge {
                known: n,
                beyond: (0..n).filter(|_| next() < 0.02).count() as u64,
            };
            let reference = draw(400);
            let fresh = draw(100);
            if chance_of_as_many_beyond(reference, fresh) <= 1e-3 {
                below_a_thousandth += 1;
            }
        }
        assert!(
            below_a_thousandth <= 4 * runs / 1000,
            "{below_a_thousandth} of {runs}"
        );
    }
}

//! The partial-leak rules applied to one insert site: its callers (stacks)
//! and the site as a whole are judged from their counts, their lifetimes
//! (ages at removal) and their oldest live entries. Each rule gives a
//! [`Verdict`] with the figures it weighed; the words are the facade's.
//!
//! - never removed (site): nothing of the site was ever removed.
//! - never removed / outliers against the other callers: a caller with too
//!   few lifetimes of its own is compared with the site's other callers at
//!   one age (Fisher's exact test, `verdicts.rs`).
//! - outliers against its own history: a caller (or the site) with enough
//!   lifetimes has more live entries past the age (and past its longest
//!   lifetime) than its removed ones make likely, and the oldest has
//!   outlived that age twice over.
//! - expiry share: at least `expiry_share` of the ended entries expired.
//!
//! Held sites (`hold()`) are judged by the outlier rules only: the library
//! removes their entries itself, so an expiry or a site none of whose calls
//! has ended is a slow call, while a caller whose calls outlive the site's
//! beyond doubt never ends. Cost: a few walks of each stack's oldest entries
//! (at most 1,000 each), never O(entries).

use crate::ledger::{Counts, Ledger, Older, SiteLedger};
use crate::lifetimes::{count_above, quantiles_of, Quantiles, BUCKETS};
use crate::verdicts::{weigh, AtAge, Evidence, Number, Scope, Verdict, Versus};

/// A group's lifetimes say what "normal" is only after this many removes.
pub const MIN_LIFETIMES: u64 = 20;
/// Expiry share: fewer expired entries than this are never a pattern.
const MIN_EXPIRED: u64 = 3;
/// Live entries are counted from each stack's oldest on, at most this many.
const OLDER_COUNT_CAP: usize = 1_000;

/// The rules' knobs (report options).
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// Entries are judged at this many times their p99 lifetime ...
    pub outlier_factor: f64,
    /// ... and never younger than this (ms).
    pub outlier_floor_ms: u64,
    /// A site (or caller) that removes entries and lets at least this share
    /// of them expire is suspect.
    pub expiry_share: f64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            outlier_factor: 5.0,
            outlier_floor_ms: 1_000,
            expiry_share: 0.01,
        }
    }
}

/// One caller's verdict and oldest entry.
pub struct CallerJudgment {
    pub verdict: Option<Verdict>,
    pub oldest_ms: Option<u64>,
}

/// A site judged: its callers (in the order given), its pooled figures and
/// the verdicts of the site as a whole.
pub struct SiteJudgment {
    pub callers: Vec<CallerJudgment>,
    pub counts: Counts,
    pub lifetime: Option<Quantiles>,
    /// Nothing of the site was ever removed.
    pub never_removed: Option<Verdict>,
    /// The site's expiry share.
    pub expiry_share: Option<Verdict>,
    /// The site's callers pooled, against the site's own history (outliers
    /// spread over callers too thin for one to be judged on its own).
    pub pooled: Option<Verdict>,
}

/// Counts and lifetimes of some stacks together.
struct Group {
    counts: Counts,
    /// Recorded inserts (each once).
    inserts_seen: u64,
    buckets: Box<[u64; BUCKETS]>,
    max_ms: u64,
    /// Recorded removes (each once).
    removes_seen: u64,
}

impl Group {
    fn of<'s>(stacks: impl IntoIterator<Item = &'s SiteLedger>) -> Group {
        let mut group = Group {
            counts: Counts::default(),
            inserts_seen: 0,
            buckets: Box::new([0; BUCKETS]),
            max_ms: 0,
            removes_seen: 0,
        };
        for stack in stacks {
            let c = stack.counts;
            group.counts.live += c.live;
            group.counts.inserts += c.inserts;
            group.counts.removes += c.removes;
            group.counts.expired += c.expired;
            group.counts.overwrites += c.overwrites;
            group.inserts_seen += stack.samples;
            stack.lifetimes.add_to(&mut group.buckets);
            group.max_ms = group.max_ms.max(stack.lifetimes.max_ms());
            group.removes_seen += stack.lifetimes.samples();
        }
        group
    }

    /// The site's other stacks: the site less one of its groups. Their
    /// max lifetime is taken as the site's (only the quantiles' cap).
    fn less(&self, part: &Group) -> Group {
        let mut buckets = self.buckets.clone();
        for (sum, n) in buckets.iter_mut().zip(part.buckets.iter()) {
            *sum -= n;
        }
        let c = self.counts;
        let p = part.counts;
        Group {
            counts: Counts {
                live: c.live - p.live,
                inserts: c.inserts - p.inserts,
                removes: c.removes - p.removes,
                expired: c.expired - p.expired,
                overwrites: c.overwrites - p.overwrites,
            },
            inserts_seen: self.inserts_seen - part.inserts_seen,
            buckets,
            max_ms: self.max_ms,
            removes_seen: self.removes_seen - part.removes_seen,
        }
    }

    fn quantiles(&self) -> Option<Quantiles> {
        quantiles_of(&self.buckets[..], self.max_ms)
    }

    /// A weighted figure as entries seen: rounded up for a reference (more
    /// of it cannot overstate the evidence), down for the judged group.
    fn seen(&self, weighted: u64, per_weight: (u64, u64), up: bool) -> u64 {
        let (seen, total) = per_weight;
        if total == 0 || seen >= total {
            return weighted;
        }
        let exact = weighted as f64 * seen as f64 / total as f64;
        (if up { exact.ceil() } else { exact.floor() }) as u64
    }

    /// Removed entries (seen) that may have lived longer than `ms`.
    fn removed_beyond(&self, ms: u64) -> u64 {
        let weighted = count_above(&self.buckets[..], self.max_ms, ms);
        let total: u64 = self.buckets.iter().sum();
        self.seen(weighted, (self.removes_seen, total), true)
    }

    fn expired_seen(&self, up: bool) -> u64 {
        self.seen(
            self.counts.expired,
            (self.inserts_seen, self.counts.inserts),
            up,
        )
    }

    fn live_seen(&self) -> u64 {
        self.seen(
            self.counts.live,
            (self.inserts_seen, self.counts.inserts),
            false,
        )
    }
}

/// Judges the stacks of one insert site (all held, or none).
pub struct Judge<'a> {
    pub ledger: &'a Ledger,
    pub now: u64,
    pub rules: Rules,
    pub estimated: bool,
}

impl Judge<'_> {
    pub fn site(&self, stacks: &[&SiteLedger]) -> SiteJudgment {
        let site = Group::of(stacks.iter().copied());
        let oldest: Vec<Option<u64>> = stacks
            .iter()
            .map(|stack| self.ledger.site_oldest_age_ms(stack, self.now))
            .collect();
        let mut judgment = SiteJudgment {
            callers: oldest
                .iter()
                .map(|&oldest_ms| CallerJudgment {
                    verdict: None,
                    oldest_ms,
                })
                .collect(),
            counts: site.counts,
            lifetime: site.quantiles(),
            never_removed: None,
            expiry_share: None,
            pooled: None,
        };
        if stacks.is_empty() {
            return judgment;
        }
        // Held entries are removed by handle-ledger when their call ends: an
        // expired one, or a site none of whose calls has ended yet, is slow,
        // not a lost cleanup. A held caller whose entries outlive what the
        // site's calls show beyond doubt is a call that never ends: that is
        // judged like any outlier.
        let held = stacks[0].held;
        if site.counts.removes == 0 {
            if held {
                return judgment;
            }
            let site_oldest = oldest.iter().flatten().max().copied();
            judgment.never_removed = self.never_removed(Scope::Site, site.counts, site_oldest);
            for (caller, stack) in judgment.callers.iter_mut().zip(stacks) {
                caller.verdict = self.never_removed(Scope::Caller, stack.counts, caller.oldest_ms);
            }
            return judgment;
        }
        let at_site_age = self.site_age(&site).map(|age| {
            let older: Vec<Older> = stacks
                .iter()
                .map(|stack| {
                    self.ledger
                        .live_older_than(stack, self.now, age, OLDER_COUNT_CAP)
                })
                .collect();
            (age, older)
        });
        for (i, stack) in stacks.iter().enumerate() {
            let own = Group::of([*stack]);
            let oldest_ms = oldest[i];
            let verdict = if own.removes_seen >= MIN_LIFETIMES {
                self.against_own_history(Scope::Caller, &[stack], &own, oldest_ms)
            } else {
                at_site_age.as_ref().and_then(|(age, older)| {
                    self.against_other_callers(&site, &own, *age, older, i, oldest_ms)
                })
            };
            judgment.callers[i].verdict = if held {
                verdict
            } else {
                verdict.or_else(|| self.expiry_share(Scope::Caller, own.counts))
            };
        }
        if !held {
            judgment.expiry_share = self.expiry_share(Scope::Site, site.counts);
        }
        if site.removes_seen >= MIN_LIFETIMES {
            let site_oldest = oldest.iter().flatten().max().copied();
            judgment.pooled = self.against_own_history(Scope::Site, stacks, &site, site_oldest);
        }
        judgment
    }

    /// The age a group's live entries are judged at.
    fn judgment_age(&self, lifetime: &Quantiles) -> u64 {
        ((lifetime.p99_ms as f64 * self.rules.outlier_factor) as u64)
            .max(self.rules.outlier_floor_ms)
    }

    /// The age callers are compared at: the site's judgment age, or the TTL
    /// when that is shorter (every expired entry then outlived it).
    fn site_age(&self, site: &Group) -> Option<u64> {
        let lifetime = site.quantiles()?;
        let age = self.judgment_age(&lifetime);
        let ttl = self.ledger.ttl_ms();
        Some(if ttl > 0 { age.min(ttl) } else { age })
    }

    /// Nothing removed, and the oldest entry has lived `outlierFloorMs` or
    /// some expired: a site whose first calls are still in flight has
    /// removed nothing yet either, and is no leak for it.
    /// An app that keeps entries alive with touch() in a map with a TTL says
    /// they live as long as they are used, up to the TTL: with nothing
    /// removed yet (sessions before the first logout), the TTL judges them,
    /// by an expiry.
    fn never_removed(&self, scope: Scope, c: Counts, oldest_ms: Option<u64>) -> Option<Verdict> {
        let floor = self.rules.outlier_floor_ms;
        let kept_alive = self.ledger.ttl_ms() > 0 && self.ledger.touched();
        let old_enough = c.expired > 0 || (!kept_alive && oldest_ms.is_some_and(|ms| ms >= floor));
        (c.inserts > 0 && c.removes == 0 && old_enough).then(|| Verdict::NeverRemoved {
            scope,
            live: c.live as Number,
            expired: c.expired as Number,
            oldest_ms: oldest_ms.map(|ms| ms as Number),
            estimated: self.estimated,
            evidence: None,
        })
    }

    /// Live entries older than the group's judgment age, against how many
    /// of its removed entries lived that long. The oldest must have outlived
    /// that age twice over: a burst of entries that all just reached it has
    /// had no time to be removed after it.
    fn against_own_history(
        &self,
        scope: Scope,
        stacks: &[&SiteLedger],
        group: &Group,
        oldest_ms: Option<u64>,
    ) -> Option<Verdict> {
        let lifetime = group.quantiles()?;
        // Never younger than the longest lifetime seen: the removed entries
        // are a censored sample (long-lived ones are not removed yet), and a
        // live entry is an outlier only past everything its group has shown.
        let age = self.judgment_age(&lifetime).max(lifetime.max_ms);
        if oldest_ms? < age.saturating_mul(2) {
            return None;
        }
        let older = stacks.iter().fold(Older::default(), |sum, stack| {
            let o = self
                .ledger
                .live_older_than(stack, self.now, age, OLDER_COUNT_CAP);
            Older {
                weighted: sum.weighted + o.weighted,
                entries: sum.entries + o.entries,
                more: sum.more || o.more,
            }
        });
        let reference = AtAge {
            known: group.removes_seen,
            beyond: group.removed_beyond(age),
        };
        let young = group.live_seen().saturating_sub(older.entries);
        let fresh = AtAge {
            known: group.inserts_seen.saturating_sub(young),
            beyond: older.entries,
        };
        let evidence = weigh(Versus::OwnHistory, age, reference, fresh, &lifetime);
        evidence
            .convicts()
            .then(|| self.outliers(scope, older, oldest_ms, evidence))
    }

    /// A caller with too few lifetimes of its own against the site's other
    /// callers, at the site's age: removed, expired and live-and-older
    /// entries of both, Fisher's exact test on who outlived it.
    fn against_other_callers(
        &self,
        site: &Group,
        own: &Group,
        age: u64,
        older: &[Older],
        index: usize,
        oldest_ms: Option<u64>,
    ) -> Option<Verdict> {
        let others = site.less(own);
        // A caller whose own removed entries lived past the age is slow, not
        // leaking: its few lifetimes are its own normal.
        if others.removes_seen < MIN_LIFETIMES || own.removed_beyond(age) > 0 {
            return None;
        }
        let lifetime = others.quantiles()?;
        let expires = self.ledger.ttl_ms() > 0;
        let mine = older[index];
        let theirs: u64 = older
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != index)
            .map(|(_, o)| o.entries)
            .sum();
        let expired_mine = if expires { own.expired_seen(false) } else { 0 };
        let expired_theirs = if expires {
            others.expired_seen(true)
        } else {
            0
        };
        let fresh = AtAge {
            known: own.removes_seen,
            beyond: 0,
        }
        .plus(AtAge {
            known: mine.entries + expired_mine,
            beyond: mine.entries + expired_mine,
        });
        let reference = AtAge {
            known: others.removes_seen,
            beyond: others.removed_beyond(age),
        }
        .plus(AtAge {
            known: theirs + expired_theirs,
            beyond: theirs + expired_theirs,
        });
        let evidence = weigh(Versus::OtherCallers, age, reference, fresh, &lifetime);
        if !evidence.convicts() || mine.entries + expired_mine == 0 {
            return None;
        }
        if own.counts.removes == 0 {
            let c = own.counts;
            return Some(Verdict::NeverRemoved {
                scope: Scope::Caller,
                live: c.live as Number,
                expired: c.expired as Number,
                oldest_ms: oldest_ms.map(|ms| ms as Number),
                estimated: self.estimated,
                evidence: Some(evidence),
            });
        }
        Some(self.outliers(Scope::Caller, mine, oldest_ms, evidence))
    }

    fn outliers(
        &self,
        scope: Scope,
        older: Older,
        oldest_ms: Option<u64>,
        evidence: Evidence,
    ) -> Verdict {
        Verdict::Outliers {
            scope,
            count: older.weighted as Number,
            more: older.more,
            oldest_ms: oldest_ms.map(|ms| ms as Number),
            estimated: self.estimated,
            evidence,
        }
    }

    fn expiry_share(&self, scope: Scope, c: Counts) -> Option<Verdict> {
        let ended = c.removes + c.expired;
        (c.removes > 0
            && c.expired >= MIN_EXPIRED
            && c.expired as f64 >= self.rules.expiry_share * ended as f64)
            .then(|| Verdict::ExpiryShare {
                scope,
                expired: c.expired as Number,
                removed: c.removes as Number,
                share: c.expired as f64 / ended as f64,
                estimated: self.estimated,
            })
    }
}

#[cfg(test)]
mod tests {
    //! Clean services the rules must never flag (heavy tails, long polls,
    //! sessions, a ramp, bursts after idle), and leaks they must flag in
    //! time, replayed with exact stamps and judged as a server's reports
    //! would be, every few hundred ms.
    use super::*;
    use crate::oplog::{HELD_SITE, INSERT, REMOVE, TIME};

    #[derive(Clone, Copy)]
    struct Entry {
        at: u64,
        /// None: never removed.
        lifetime: Option<u64>,
        stack: u32,
    }

    struct Random(u64);
    impl Random {
        fn unit(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn lognormal(&mut self, median_ms: f64, sigma: f64) -> u64 {
            let normal =
                (-2.0 * self.unit().ln()).sqrt() * (2.0 * std::f64::consts::PI * self.unit()).cos();
            (median_ms * (sigma * normal).exp()) as u64
        }
        /// Arrival times at `rate(t)` per second from `from` to `to` (ms).
        fn arrivals(&mut self, from: u64, to: u64, rate: impl Fn(u64) -> f64) -> Vec<u64> {
            let mut out = vec![];
            let mut t = from as f64;
            while (t as u64) < to {
                out.push(t as u64);
                t += -self.unit().ln() * 1_000.0 / rate(t as u64).max(1e-9);
            }
            out
        }
    }

    /// Every judgment's verdicts from `from` on, until `until` (ms), each
    /// `every` ms: `(time, which, verdict)`.
    fn verdicts(
        mut entries: Vec<Entry>,
        ttl: u64,
        every: u64,
        from: u64,
        until: u64,
    ) -> Vec<(u64, String, Verdict)> {
        entries.sort_by_key(|e| e.at);
        // (time, insert first, slot, stack)
        let mut ops: Vec<(u64, bool, u32, u32)> = vec![];
        for (slot, e) in entries.iter().enumerate() {
            ops.push((e.at, true, slot as u32, e.stack));
            if let Some(lifetime) = e.lifetime.filter(|&l| ttl == 0 || l < ttl) {
                ops.push((e.at + lifetime, false, slot as u32, e.stack));
            }
        }
        ops.sort_by_key(|&(t, insert, slot, _)| (t, !insert, slot));
        let mut ledger = Ledger::new(ttl, 0);
        let mut found = vec![];
        let mut next = 0;
        let mut now = every;
        while now <= until {
            let mut log = vec![];
            while next < ops.len() && ops[next].0 <= now {
                let (t, insert, slot, stack) = ops[next];
                log.extend([TIME as i32, t as u32 as i32, (t >> 32) as i32]);
                if insert {
                    log.extend([(slot << 3 | INSERT) as i32, stack as i32]);
                } else {
                    log.push((slot << 3 | REMOVE) as i32);
                }
                next += 1;
            }
            ledger.drain(&log, now).unwrap();
            if now >= from {
                let judge = Judge {
                    ledger: &ledger,
                    now,
                    rules: Rules::default(),
                    estimated: false,
                };
                let stacks: Vec<&SiteLedger> = ledger
                    .sites()
                    .iter()
                    .filter(|s| s.site != 0 && s.counts.inserts > 0)
                    .collect();
                let site = judge.site(&stacks);
                for (caller, stack) in site.callers.iter().zip(&stacks) {
                    if let Some(v) = &caller.verdict {
                        found.push((now, format!("caller {}", stack.site), v.clone()));
                    }
                }
                for v in [site.never_removed, site.expiry_share, site.pooled]
                    .into_iter()
                    .flatten()
                {
                    found.push((now, "site".to_owned(), v));
                }
            }
            now += every;
        }
        found
    }

    fn assert_clean(name: &str, found: &[(u64, String, Verdict)]) {
        assert!(
            found.is_empty(),
            "{name}: {} verdicts, first {:?}",
            found.len(),
            found.first()
        );
    }

    #[test]
    fn heavy_tailed_latencies_are_never_flagged() {
        let mut random = Random(1);
        let mut entries = vec![];
        for at in random.arrivals(0, 120_000, |_| 300.0) {
            let stack = 1 + (random.unit() * 3.0) as u32;
            // p50 20 ms, p99 0.65 s, p99.9 2 s.
            let lifetime = random.lognormal(20.0, 1.5);
            entries.push(Entry {
                at,
                lifetime: Some(lifetime),
                stack,
            });
        }
        assert_clean("lognormal", &verdicts(entries, 0, 250, 250, 120_000));
    }

    /// A lifetime no entry has shown yet cannot be told from a leak: long
    /// polls read as leaks until the first of them end, and never after.
    #[test]
    fn long_polls_are_not_flagged_once_their_first_ones_ended() {
        let mut random = Random(2);
        let mut entries = vec![];
        for at in random.arrivals(0, 150_000, |_| 200.0) {
            let long = random.unit() < 0.005;
            let lifetime = if long {
                25_000 + (random.unit() * 5_000.0) as u64
            } else {
                random.lognormal(5.0, 1.0)
            };
            // Fast calls and long polls through the same stack, and a route of long polls of its own.
            entries.push(Entry {
                at,
                lifetime: Some(lifetime),
                stack: 1,
            });
            if random.unit() < 0.02 {
                entries.push(Entry {
                    at,
                    lifetime: Some(20_000 + (random.unit() * 10_000.0) as u64),
                    stack: 2,
                });
            }
        }
        let first_long_end = |stack: u32| {
            entries
                .iter()
                .filter(|e| e.stack == stack && e.lifetime.unwrap() >= 20_000)
                .map(|e| e.at + e.lifetime.unwrap())
                .min()
                .unwrap()
        };
        let ends = [first_long_end(1), first_long_end(2)];
        let found = verdicts(entries, 0, 500, 500, 150_000);
        for (t, who, verdict) in &found {
            let end = match who.as_str() {
                "caller 1" => ends[0],
                "caller 2" => ends[1],
                _ => ends[0].max(ends[1]),
            };
            assert!(
                *t < end,
                "{who} at {t} ms, after its first long poll ended at {end}: {verdict:?}"
            );
        }
        assert!(!found.is_empty(), "before, they are flagged");
    }

    #[test]
    fn sessions_that_live_minutes_are_never_flagged() {
        let mut random = Random(3);
        let mut entries = vec![];
        for at in random.arrivals(0, 1_200_000, |_| 5.0) {
            // p50 3 min, some live an hour.
            entries.push(Entry {
                at,
                lifetime: Some(random.lognormal(180_000.0, 1.0)),
                stack: 1 + (random.unit() * 2.0) as u32,
            });
        }
        let found = verdicts(entries, 0, 5_000, 5_000, 1_200_000);
        // Until the first session ends nothing of the site was removed: the
        // site is flagged as never removed (the rule for a cleanup lost on
        // every call). After that, nothing.
        let first_remove = found
            .iter()
            .filter(|(_, _, v)| !matches!(v, Verdict::NeverRemoved { evidence: None, .. }))
            .count();
        assert_eq!(
            first_remove,
            0,
            "{:?}",
            found
                .iter()
                .find(|(_, _, v)| !matches!(v, Verdict::NeverRemoved { evidence: None, .. }))
        );
    }

    #[test]
    fn a_ramp_and_bursts_after_idle_are_never_flagged() {
        let mut random = Random(4);
        let mut entries = vec![];
        // From 10/s to 2,000/s over a minute.
        for at in random.arrivals(0, 60_000, |t| 10.0 + 2_000.0 * t as f64 / 60_000.0) {
            entries.push(Entry {
                at,
                lifetime: Some(random.lognormal(10.0, 1.2)),
                stack: 1 + (random.unit() * 2.0) as u32,
            });
        }
        // Idle, then bursts of 3,000 within 50 ms every 20 s.
        for burst in 0..4u64 {
            let start = 90_000 + burst * 20_000;
            for i in 0..3_000u64 {
                entries.push(Entry {
                    at: start + i / 60,
                    lifetime: Some(random.lognormal(50.0, 1.5)),
                    stack: 1 + (i % 2) as u32,
                });
            }
        }
        assert_clean("ramp and bursts", &verdicts(entries, 0, 250, 250, 170_000));
    }

    #[test]
    fn a_clean_service_with_a_ttl_that_expires_a_few_is_flagged_only_by_the_share() {
        let mut random = Random(5);
        let mut entries = vec![];
        for at in random.arrivals(0, 60_000, |_| 200.0) {
            entries.push(Entry {
                at,
                lifetime: Some(random.lognormal(20.0, 1.0)),
                stack: 1 + (random.unit() * 2.0) as u32,
            });
        }
        assert_clean("ttl", &verdicts(entries, 30_000, 500, 500, 60_000));
    }

    /// The RPC client's shape: getOrder loses its cleanup on 10% of its
    /// calls (timeouts), getUser is clean; lifetimes 2-40 ms. Flagged within
    /// 3 s of the first lost reply, at the caller that loses it.
    #[test]
    fn a_caller_that_loses_a_tenth_of_its_cleanups_is_flagged_within_three_seconds() {
        let mut random = Random(6);
        let mut entries = vec![];
        let leak_from = 10_000;
        for at in random.arrivals(0, 30_000, |_| 200.0) {
            let lifetime = 2 + (random.unit() * 38.0) as u64;
            entries.push(Entry {
                at,
                lifetime: Some(lifetime),
                stack: 1,
            });
            let lost = at >= leak_from && random.unit() < 0.1;
            entries.push(Entry {
                at,
                lifetime: (!lost).then_some(lifetime),
                stack: 2,
            });
        }
        let found = verdicts(entries, 0, 100, 100, 30_000);
        let first = found.first().expect("flagged");
        assert_eq!(first.1, "caller 2");
        assert!(matches!(first.2, Verdict::Outliers { .. }), "{first:?}");
        assert!(first.0 <= leak_from + 3_000, "flagged at {} ms", first.0);
        assert!(
            found.iter().all(|(_, who, _)| who != "caller 1"),
            "the clean caller is never flagged"
        );
    }

    /// A caller that never removes, beside callers that do: flagged once its
    /// entries are max(1 s, 5 x p99) old.
    #[test]
    fn a_caller_that_never_removes_is_flagged_at_the_judgment_age() {
        let mut random = Random(7);
        let mut entries = vec![];
        for at in random.arrivals(0, 10_000, |_| 100.0) {
            entries.push(Entry {
                at,
                lifetime: Some(random.lognormal(100.0, 0.5)),
                stack: 1,
            });
        }
        for at in random.arrivals(5_000, 10_000, |_| 5.0) {
            entries.push(Entry {
                at,
                lifetime: None,
                stack: 2,
            });
        }
        let found = verdicts(entries.clone(), 0, 100, 100, 10_000);
        let first = found.first().expect("flagged");
        assert!(
            matches!(
                first.2,
                Verdict::NeverRemoved {
                    evidence: Some(_),
                    ..
                }
            ),
            "{first:?}"
        );
        let Verdict::NeverRemoved {
            evidence: Some(e), ..
        } = &first.2
        else {
            unreachable!()
        };
        let first_leak = entries
            .iter()
            .filter(|e| e.stack == 2)
            .map(|e| e.at)
            .min()
            .unwrap();
        assert!(
            first.0 <= first_leak + e.older_than_ms as u64 + 1_000,
            "flagged at {} ms, first leak at {first_leak}, age {}",
            first.0,
            e.older_than_ms
        );
        assert!(e.older_than_ms <= (5.0 * e.p99_ms).max(1_000.0));
    }

    /// hold(): a caller whose calls never end, beside one whose calls end in
    /// milliseconds, is flagged; held entries that expire (slow calls cut by
    /// the TTL) are not a share of lost cleanups.
    #[test]
    fn a_held_caller_whose_calls_never_end_is_flagged_and_expiries_of_held_entries_are_not() {
        let mut random = Random(8);
        let mut entries = vec![];
        for at in random.arrivals(0, 10_000, |_| 100.0) {
            let lifetime = 2 + (random.unit() * 20.0) as u64;
            entries.push(Entry {
                at,
                lifetime: Some(lifetime),
                stack: 1 | HELD_SITE,
            });
        }
        for at in random.arrivals(5_000, 10_000, |_| 5.0) {
            entries.push(Entry {
                at,
                lifetime: None,
                stack: 2 | HELD_SITE,
            });
        }
        let found = verdicts(entries, 0, 100, 100, 10_000);
        let first = found.first().expect("flagged");
        assert_eq!(first.1, "caller 2");
        assert!(first.0 <= 5_000 + 3_000, "flagged at {} ms", first.0);
        assert!(
            found.iter().all(|(_, who, _)| who != "caller 1"),
            "the caller whose calls end is never flagged"
        );

        // A held site with a TTL that cuts a few slow calls: nothing to flag.
        let mut random = Random(9);
        let mut entries = vec![];
        for at in random.arrivals(0, 20_000, |_| 100.0) {
            let slow = random.unit() < 0.02;
            entries.push(Entry {
                at,
                lifetime: if slow {
                    None
                } else {
                    Some(random.lognormal(50.0, 0.5))
                },
                stack: 1 | HELD_SITE,
            });
        }
        assert_clean(
            "held entries cut by the TTL",
            &verdicts(entries, 3_000, 100, 100, 20_000),
        );
    }

    /// A site whose first calls are still in flight has removed nothing yet:
    /// not a leak until its oldest entry has lived outlierFloorMs.
    #[test]
    fn a_site_whose_first_calls_are_in_flight_is_not_flagged() {
        let mut entries = vec![];
        for at in (0..2_000).step_by(10) {
            entries.push(Entry {
                at,
                lifetime: Some(600),
                stack: 1,
            });
        }
        assert_clean(
            "first calls of 600 ms",
            &verdicts(entries.clone(), 0, 100, 100, 2_000),
        );
        // Every call losing its cleanup: flagged once the oldest is 1 s old.
        for entry in &mut entries {
            entry.lifetime = None;
        }
        let found = verdicts(entries, 0, 100, 100, 2_000);
        let first = found.first().expect("flagged");
        assert!(matches!(first.2, Verdict::NeverRemoved { .. }), "{first:?}");
        assert_eq!(first.0, 1_000, "at the floor");
    }

    /// Sessions in a map with a TTL, touched as they are used and none logged
    /// out yet: in use, judged by the TTL. The same entries never touched are
    /// never removed once the oldest has lived the floor.
    #[test]
    fn entries_kept_alive_by_touch_are_judged_by_the_ttl() {
        use crate::oplog::TOUCH;
        let judge_at = |ledger: &Ledger, now: u64| {
            let judge = Judge {
                ledger,
                now,
                rules: Rules::default(),
                estimated: false,
            };
            let stacks: Vec<&SiteLedger> = ledger.sites().iter().filter(|s| s.site != 0).collect();
            judge.site(&stacks).never_removed
        };
        let sessions = |touch: bool| {
            let mut ledger = Ledger::new(60_000, 0);
            let mut log = vec![];
            for slot in 0..20u32 {
                log.extend([TIME as i32, (slot * 10) as i32, 0]);
                log.extend([(slot << 3 | INSERT) as i32, 1]);
            }
            ledger.drain(&log, 200).unwrap();
            for t in (2_000..10_000).step_by(2_000) {
                let mut ops = vec![TIME as i32, t as i32, 0];
                if touch {
                    ops.extend((0..20u32).map(|slot| (slot << 3 | TOUCH) as i32));
                }
                ledger.drain(&ops, t).unwrap();
            }
            ledger
        };
        assert!(
            judge_at(&sessions(true), 10_000).is_none(),
            "touched: the TTL judges them"
        );
        assert!(
            judge_at(&sessions(false), 10_000).is_some(),
            "never touched, never removed"
        );
        // Once one expires, a touched map's never-removed site is flagged too.
        let mut touched = sessions(true);
        touched.drain(&[], 80_000).unwrap();
        assert!(judge_at(&touched, 80_000).is_some());
    }
}

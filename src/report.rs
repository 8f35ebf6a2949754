//! Turns ledgers into reports: per map, then per insert site (a stack's top
//! frame) sorted by live count and age, and under each site its callers (the
//! distinct stacks through it), bounded. Per-stack figures are weighted
//! estimates when not every insert was recorded (see `ledger.rs`), and marked
//! so. Each caller and site is judged by the partial-leak rules below. Plain
//! Rust; the binding converts the result to JS objects with serde. Cost:
//! O(sites + stacks) per map, never O(entries).

use crate::interner::Interner;
use crate::ledger::{Ledger, SiteLedger};
use crate::lifetimes::Quantiles;
use crate::registry::MapEntry;
pub use crate::rules::Rules;
use crate::rules::{CallerJudgment, Judge};
pub use crate::verdicts::Number;
use crate::verdicts::Verdict;
use serde::Serialize;
use std::collections::HashMap;

pub const DEFAULT_SITE_LIMIT: u32 = 20;
pub const DEFAULT_CALLER_LIMIT: u32 = 16;
/// Bits of an INSERT's site word above the stack id are flags set by the
/// facade; the interner knows only the id.
const STACK_ID_MASK: u32 = (1 << 30) - 1;

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only maps with this exact name.
    pub map: Option<String>,
    /// At most this many sites per map (default 20).
    pub limit: Option<u32>,
    /// At most this many callers per site (default 16); the rest are one
    /// row. 0: none (the site figures and verdicts only).
    pub callers: Option<u32>,
    pub rules: Rules,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct MapReport {
    pub id: Number,
    pub name: String,
    pub thread_id: u32,
    pub live: Number,
    pub inserts: Number,
    pub removes: Number,
    pub expired: Number,
    pub overwrites: Number,
    pub oldest_age_ms: Option<Number>,
    pub ttl_ms: Number,
    pub call_sites: &'static str,
    pub sample_rate: u32,
    /// True when the per-site figures are weighted estimates (some insert
    /// went unrecorded).
    pub estimated: bool,
    pub flush_interval_ms: u32,
    /// When the figures were read (ms, the map's clock).
    pub at: Number,
    pub sites: Vec<SiteReport>,
    pub sites_omitted: u32,
    /// Present when the ledger was rebuilt from the map's own state (its
    /// per-site figures then count from `at`; the map's totals carry on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset: Option<ResetReport>,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ResetReport {
    /// How often the ledger was rebuilt.
    pub count: u32,
    /// When last (ms, the map's clock, as `MapReport::at`).
    pub at: Number,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SiteReport {
    pub site: String,
    /// The stack id of the first caller listed (the suspect one, if any).
    /// Stacks go to JS as ids: the facade turns each into its frames once
    /// and reuses them, so a report of 1,000 stacks makes no 8,000 strings.
    pub stack_id: u32,
    pub live: Number,
    pub inserts: Number,
    pub removes: Number,
    pub expired: Number,
    pub overwrites: Number,
    pub oldest_age_ms: Option<Number>,
    pub lifetime: Option<LifetimeReport>,
    pub removed_at: Vec<RemoveSite>,
    pub suspect: bool,
    /// Why the site is suspect (`verdicts.rs`); the facade words it.
    pub verdict: Option<Verdict>,
    pub estimated: bool,
    /// Entries inserted by `hold()`/`acquire()`: a group of their own,
    /// never suspect (a long-lived held entry is a slow call, not a lost
    /// cleanup).
    pub held: bool,
    /// The distinct stacks through this site, suspect first, then by live.
    pub callers: Vec<CallerReport>,
    /// The callers past the limit, summed into one row.
    pub other_callers: Option<OtherCallers>,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct CallerReport {
    pub stack_id: u32,
    pub live: Number,
    pub inserts: Number,
    pub removes: Number,
    pub expired: Number,
    pub oldest_age_ms: Option<Number>,
    pub lifetime: Option<LifetimeReport>,
    pub suspect: bool,
    pub verdict: Option<Verdict>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OtherCallers {
    pub callers: u32,
    pub live: Number,
    pub inserts: Number,
    pub removes: Number,
    pub expired: Number,
    pub suspect: bool,
}

/// Ages at removal: each quantile is a bucket's upper bound (at most 25%
/// above the true value), never above the exact maximum.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LifetimeReport {
    pub count: Number,
    pub p50_ms: Number,
    pub p99_ms: Number,
    pub max_ms: Number,
}

impl From<Quantiles> for LifetimeReport {
    fn from(q: Quantiles) -> Self {
        LifetimeReport {
            count: q.count as Number,
            p50_ms: q.p50_ms as Number,
            p99_ms: q.p99_ms as Number,
            max_ms: q.max_ms as Number,
        }
    }
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RemoveSite {
    pub site: String,
    pub count: Number,
    pub estimated: bool,
}

pub fn selected(entry: &MapEntry, options: &Options) -> bool {
    options
        .map
        .as_ref()
        .is_none_or(|name| *name == entry.info.name)
}

/// `now` is the owner's clock when the owner asks; other threads pass `None`
/// and the owner's clock is told from its anchor (never earlier than the
/// last drain; a custom clock's map is read as of its last drain).
pub fn map_report(
    entry: &MapEntry,
    options: &Options,
    now: Option<u64>,
    interner: &Interner,
) -> MapReport {
    let ledger = entry.ledger.lock();
    let now = now
        .unwrap_or_else(|| entry.info.clock_anchor.map_or(0, |anchor| anchor.now_ms()))
        .max(ledger.now());
    let counts = ledger.counts();
    let estimated = ledger.estimated();
    let reader = Reader {
        ledger: &ledger,
        now,
        estimated,
        interner,
        options,
    };
    let mut sites: Vec<SiteReport> = group_by_site(&ledger, interner)
        .into_iter()
        .map(|stacks| reader.site_report(&stacks))
        .collect();
    sites.sort_by(|a, b| {
        b.live
            .total_cmp(&a.live)
            .then(
                b.oldest_age_ms
                    .unwrap_or(-1.0)
                    .total_cmp(&a.oldest_age_ms.unwrap_or(-1.0)),
            )
            .then(b.inserts.total_cmp(&a.inserts))
    });
    let limit = options.limit.unwrap_or(DEFAULT_SITE_LIMIT) as usize;
    let sites_omitted = sites.len().saturating_sub(limit) as u32;
    sites.truncate(limit);
    MapReport {
        id: entry.id as Number,
        name: entry.info.name.clone(),
        thread_id: entry.info.thread_id,
        live: counts.live as Number,
        inserts: counts.inserts as Number,
        removes: counts.removes as Number,
        expired: counts.expired as Number,
        overwrites: counts.overwrites as Number,
        oldest_age_ms: ledger.oldest_age_ms(now).map(|ms| ms as Number),
        ttl_ms: ledger.ttl_ms() as Number,
        call_sites: entry.info.call_sites.name(),
        sample_rate: entry.info.sample_rate,
        estimated,
        flush_interval_ms: entry.info.flush_interval_ms,
        at: now as Number,
        sites,
        sites_omitted,
        reset: match ledger.resets() {
            (0, _) | (_, None) => None,
            (count, Some(at)) => Some(ResetReport {
                count,
                at: at as Number,
            }),
        },
    }
}

/// The recorded stacks of a ledger, grouped by their top frame (in order of
/// first appearance, so reports are stable).
fn group_by_site<'a>(ledger: &'a Ledger, interner: &Interner) -> Vec<Vec<&'a SiteLedger>> {
    let mut groups: Vec<Vec<&SiteLedger>> = Vec::new();
    // Held inserts (hold()/acquire()) at a site are a group of their own.
    let mut by_frame: HashMap<(u32, bool), usize> = HashMap::new();
    for stack in ledger.sites() {
        if stack.site == 0 || stack.counts.inserts == 0 {
            continue;
        }
        let frame = interner
            .site_of(stack.site & STACK_ID_MASK)
            .unwrap_or(u32::MAX);
        let at = *by_frame.entry((frame, stack.held)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[at].push(stack);
    }
    groups
}

struct Reader<'a> {
    ledger: &'a Ledger,
    now: u64,
    estimated: bool,
    interner: &'a Interner,
    options: &'a Options,
}

/// One caller's figures and verdict before it becomes a row.
struct Judged<'a> {
    stack: &'a SiteLedger,
    oldest_ms: Option<u64>,
    verdict: Option<Verdict>,
}

impl Reader<'_> {
    fn site_report(&self, stacks: &[&SiteLedger]) -> SiteReport {
        let judge = Judge {
            ledger: self.ledger,
            now: self.now,
            rules: self.options.rules,
            estimated: self.estimated,
        };
        let site = judge.site(stacks);
        let mut judged: Vec<Judged> = stacks
            .iter()
            .zip(site.callers)
            .map(|(&stack, CallerJudgment { verdict, oldest_ms })| Judged {
                stack,
                oldest_ms,
                verdict,
            })
            .collect();
        judged.sort_by(|a, b| {
            b.verdict
                .is_some()
                .cmp(&a.verdict.is_some())
                .then(b.stack.counts.live.cmp(&a.stack.counts.live))
                .then(b.oldest_ms.cmp(&a.oldest_ms))
                .then(b.stack.counts.inserts.cmp(&a.stack.counts.inserts))
        });
        // The site's verdict: nothing of it removed; else its suspect
        // caller's own (the first listed); else its expiry share (a
        // site-wide share says it better than one caller's); else a caller's
        // share; else outliers spread over its callers.
        let verdict = site
            .never_removed
            .or_else(|| {
                judged
                    .iter()
                    .find_map(|j| j.verdict.clone().filter(|v| !v.is_expiry_share()))
            })
            .or(site.expiry_share)
            .or_else(|| judged.iter().find_map(|j| j.verdict.clone()))
            .or(site.pooled);
        // 0: no caller rows at all (snapshots, which only diff sites).
        let limit = self.options.callers.unwrap_or(DEFAULT_CALLER_LIMIT) as usize;
        let other_callers =
            (limit > 0 && judged.len() > limit).then(|| other_callers(&judged[limit..]));
        let callers: Vec<CallerReport> = judged
            .iter()
            .take(limit)
            .map(|j| self.caller_report(j))
            .collect();
        let c = site.counts;
        let first = judged[0].stack;
        SiteReport {
            site: self.text(first.site),
            stack_id: first.site & STACK_ID_MASK,
            live: c.live as Number,
            inserts: c.inserts as Number,
            removes: c.removes as Number,
            expired: c.expired as Number,
            overwrites: c.overwrites as Number,
            oldest_age_ms: judged
                .iter()
                .filter_map(|j| j.oldest_ms)
                .max()
                .map(|ms| ms as Number),
            lifetime: site.lifetime.map(LifetimeReport::from),
            removed_at: self.removed_at(stacks),
            suspect: verdict.is_some(),
            verdict,
            estimated: self.estimated,
            held: first.held,
            callers,
            other_callers,
        }
    }

    fn caller_report(&self, judged: &Judged) -> CallerReport {
        let stack = judged.stack;
        let c = stack.counts;
        let verdict = judged.verdict.clone();
        CallerReport {
            stack_id: stack.site & STACK_ID_MASK,
            live: c.live as Number,
            inserts: c.inserts as Number,
            removes: c.removes as Number,
            expired: c.expired as Number,
            oldest_age_ms: judged.oldest_ms.map(|ms| ms as Number),
            lifetime: stack.lifetimes.quantiles().map(LifetimeReport::from),
            suspect: verdict.is_some(),
            verdict,
        }
    }

    fn text(&self, stack_id: u32) -> String {
        self.interner
            .site_text(stack_id & STACK_ID_MASK)
            .unwrap_or("<unknown>")
            .to_owned()
    }

    /// Remove sites with their share of the site's removes, over all its
    /// stacks. Removes by `clear()` are exact; the others are shared out in
    /// proportion to how often each remove site was observed (a random
    /// sample, so the shares are unbiased).
    fn removed_at(&self, stacks: &[&SiteLedger]) -> Vec<RemoveSite> {
        let mut out: Vec<RemoveSite> = Vec::new();
        let mut add = |remove_site: u32, count: f64, estimated: bool| {
            let site = self.text(remove_site);
            match out.iter_mut().find(|r| r.site == site) {
                Some(found) => {
                    found.count += count;
                    found.estimated |= estimated;
                }
                None => out.push(RemoveSite {
                    site,
                    count,
                    estimated,
                }),
            }
        };
        for stack in stacks {
            let cleared: u64 = stack.cleared_by.iter().map(|&(_, n)| n).sum();
            let observed: u64 = stack.removed_at.iter().map(|&(_, n)| n).sum();
            let one_by_one = stack.counts.removes.saturating_sub(cleared);
            if observed > 0 {
                let share = one_by_one as f64 / observed as f64;
                let estimated = self.estimated || observed < one_by_one;
                for &(remove_site, n) in &stack.removed_at {
                    add(remove_site, (n as f64 * share).round(), estimated);
                }
            }
            for &(clear_site, n) in &stack.cleared_by {
                add(clear_site, n as f64, self.estimated);
            }
        }
        out.sort_by(|a, b| b.count.total_cmp(&a.count));
        out
    }
}

fn other_callers(rest: &[Judged]) -> OtherCallers {
    let mut other = OtherCallers {
        callers: rest.len() as u32,
        live: 0.0,
        inserts: 0.0,
        removes: 0.0,
        expired: 0.0,
        suspect: false,
    };
    for j in rest {
        let c = j.stack.counts;
        other.live += c.live as Number;
        other.inserts += c.inserts as Number;
        other.removes += c.removes as Number;
        other.expired += c.expired as Number;
        other.suspect |= j.verdict.is_some();
    }
    other
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oplog::{HELD_SITE, INSERT, REMOVE, REMOVE_AT, TIME};
    use crate::registry::{register, unregister, CallSites, MapInfo};
    use crate::verdicts::{Scope, Versus};

    fn info(mode: CallSites) -> MapInfo {
        MapInfo {
            name: "report-test".into(),
            thread_id: 0,
            call_sites: mode,
            sample_rate: 4,
            flush_interval_ms: 100,
            clock_anchor: None,
        }
    }

    #[test]
    fn a_map_name_option_selects_only_maps_of_that_name() {
        let entry = register(info(CallSites::All), Ledger::new(0, 0));
        let only = |name: &str| Options {
            map: Some(name.into()),
            ..Options::default()
        };
        let selected_by = [
            selected(&entry, &Options::default()),
            selected(&entry, &only("report-test")),
            selected(&entry, &only("other")),
        ];
        unregister(entry.id);
        assert_eq!(selected_by, [true, true, false]);
    }

    #[test]
    fn sites_are_sorted_bounded_and_flagged() {
        let mut interner = Interner::default();
        let leak = interner.intern(&["leak (core.js:88:15)"]).unwrap();
        let ok = interner.intern(&["ok (core.js:20:3)"]).unwrap();
        let done = interner.intern(&["done (core.js:131:9)"]).unwrap();
        let mut ledger = Ledger::new(0, 0);
        let mut log = vec![];
        for slot in 0..10u32 {
            let site = if slot < 6 { leak } else { ok };
            log.extend([(slot << 3 | INSERT) as i32, site as i32]);
        }
        log.extend([(6 << 3 | REMOVE_AT) as i32, done as i32]);
        log.push((7 << 3 | REMOVE) as i32);
        ledger.drain(&log, 1_000).unwrap();
        let entry = register(info(CallSites::All), ledger);
        let report = map_report(&entry, &Options::default(), Some(5_000), &interner);
        unregister(entry.id);
        assert_eq!(
            (report.live, report.inserts, report.removes),
            (8.0, 10.0, 2.0)
        );
        assert_eq!(report.sites.len(), 2);
        let first = &report.sites[0];
        assert_eq!(first.site, "leak (core.js:88:15)");
        assert_eq!((first.live, first.inserts, first.removes), (6.0, 6.0, 0.0));
        assert!(first.suspect);
        assert_eq!(
            first.verdict,
            Some(Verdict::NeverRemoved {
                scope: Scope::Site,
                live: 6.0,
                expired: 0.0,
                oldest_ms: Some(4_000.0),
                estimated: false,
                evidence: None
            })
        );
        assert_eq!(first.oldest_age_ms, Some(4_000.0));
        let second = &report.sites[1];
        assert!(!second.suspect);
        assert_eq!(
            second.removed_at,
            vec![RemoveSite {
                site: "done (core.js:131:9)".into(),
                count: 2.0,
                estimated: true
            }]
        );
        let limited = map_report(
            &register(info(CallSites::All), Ledger::new(0, 0)),
            &Options {
                limit: Some(1),
                ..Options::default()
            },
            Some(0),
            &interner,
        );
        assert_eq!(limited.sites_omitted, 0);
    }

    fn ins(slot: u32, stack: u32) -> [i32; 2] {
        [(slot << 3 | INSERT) as i32, stack as i32]
    }
    fn rm(slot: u32) -> i32 {
        (slot << 3 | REMOVE) as i32
    }
    fn at(ms: u64) -> [i32; 3] {
        [TIME as i32, ms as u32 as i32, (ms >> 32) as i32]
    }
    fn report_of(
        ledger: Ledger,
        mode: CallSites,
        options: &Options,
        now: u64,
        interner: &Interner,
    ) -> MapReport {
        let entry = register(info(mode), ledger);
        let report = map_report(&entry, options, Some(now), interner);
        unregister(entry.id);
        report
    }

    #[test]
    fn each_recorded_insert_weighs_the_unrecorded_ones_before_it() {
        let mut interner = Interner::default();
        let site = interner.intern(&["s (a.js:1:1)"]).unwrap();
        let other = interner.intern(&["t (a.js:2:1)"]).unwrap();
        let mut ledger = Ledger::new(0, 0);
        let mut log = vec![];
        // 3 unrecorded, then slot 3 recorded (weight 4); 1 unrecorded, slot 5
        // recorded at the other site (weight 2); slot 6 recorded (weight 1).
        for slot in 0..3 {
            log.extend(ins(slot, 0));
        }
        log.extend(at(0));
        log.extend(ins(3, site));
        log.extend(ins(4, 0));
        log.extend(ins(5, other));
        log.extend(ins(6, site));
        ledger.drain(&log, 0).unwrap();
        // Later drains carry the count across: 2 unrecorded, then slot 8.
        let mut log = vec![];
        log.extend(ins(7, 0));
        ledger.drain(&log, 0).unwrap();
        let mut log = vec![];
        log.extend(ins(9, 0));
        log.extend(ins(8, site));
        log.extend(at(40));
        log.push(rm(3));
        ledger.drain(&log, 40).unwrap();
        assert!(ledger.estimated());
        assert_eq!(ledger.counts().inserts, 10, "the map's counts stay exact");
        assert_eq!(ledger.counts().live, 9);
        let of = |id: u32| ledger.sites().iter().find(|s| s.site == id).unwrap().counts;
        let s = of(site);
        assert_eq!((s.inserts, s.live, s.removes), (4 + 1 + 3, 1 + 3, 4));
        assert_eq!((of(other).inserts, of(other).live), (2, 2));
        let stack = ledger.sites().iter().find(|s| s.site == site).unwrap();
        let q = stack.lifetimes.quantiles().unwrap();
        assert_eq!((q.count, q.max_ms), (4, 40));
        let report = report_of(
            ledger,
            CallSites::Sampled,
            &Options::default(),
            40,
            &interner,
        );
        assert!(report.estimated && report.sites.iter().all(|s| s.estimated));
        let shown = report
            .sites
            .iter()
            .find(|s| s.site == "s (a.js:1:1)")
            .unwrap();
        assert_eq!(shown.live, shown.inserts - shown.removes - shown.expired);
        assert_eq!(shown.lifetime.unwrap().count, 4.0);
    }

    #[test]
    fn all_mode_is_exact_and_not_estimated() {
        let mut interner = Interner::default();
        let site = interner.intern(&["s (a.js:1:1)"]).unwrap();
        let mut ledger = Ledger::new(0, 0);
        let mut log = vec![];
        for slot in 0..5 {
            log.extend(ins(slot, site));
        }
        ledger.drain(&log, 0).unwrap();
        assert!(!ledger.estimated());
        assert_eq!(ledger.sites()[1].counts.inserts, 5);
    }

    /// A shared helper (one insert site) called from two routes: one removes
    /// its entries within 5 ms, the other never does. The site has two
    /// callers; only the leaking one is flagged, once its entries are older
    /// than the judgment age (max(1 s, 5 x p99) = 1 s), and the site's stack
    /// is the leaking caller's.
    #[test]
    fn a_leaking_caller_of_a_shared_helper_is_its_own_flagged_row() {
        let mut interner = Interner::default();
        let clean = interner
            .intern(&["callUpstream (lib.js:5:3)", "getUser (app.js:10:5)"])
            .unwrap();
        let leaky = interner
            .intern(&["callUpstream (lib.js:5:3)", "getOrder (app.js:21:5)"])
            .unwrap();
        let mut ledger = Ledger::new(0, 0);
        let mut log = vec![];
        for i in 0..100u32 {
            log.extend(at(u64::from(i) * 10));
            log.extend(ins(2 * i, clean));
            log.extend(ins(2 * i + 1, leaky));
            log.extend(at(u64::from(i) * 10 + 5));
            log.push(rm(2 * i));
        }
        ledger.drain(&log, 1_000).unwrap();
        let young = report_of(
            Ledger::new(0, 0),
            CallSites::All,
            &Options::default(),
            0,
            &interner,
        );
        assert!(young.sites.is_empty());
        let entry = register(info(CallSites::All), ledger);
        let early = map_report(&entry, &Options::default(), Some(1_000), &interner);
        let late = map_report(&entry, &Options::default(), Some(1_040), &interner);
        unregister(entry.id);
        assert_eq!(late.sites.len(), 1, "one insert site");
        let site = &late.sites[0];
        assert_eq!(
            (site.live, site.inserts, site.removes),
            (100.0, 200.0, 100.0)
        );
        assert_eq!(site.callers.len(), 2);
        let (first, second) = (&site.callers[0], &site.callers[1]);
        let frames = |id: u32| interner.site_stack(id);
        assert_eq!(frames(first.stack_id)[1], "getOrder (app.js:21:5)");
        assert!(first.suspect && !second.suspect);
        assert_eq!((first.live, first.removes), (100.0, 0.0));
        assert_eq!(second.lifetime.unwrap().max_ms, 5.0);
        // 1,040 ms: the 4 entries inserted before 40 ms are older than 1 s,
        // and none of the other caller's 100 removed entries lived that long.
        let Some(Verdict::NeverRemoved {
            scope: Scope::Caller,
            live,
            oldest_ms,
            evidence: Some(e),
            ..
        }) = &first.verdict
        else {
            panic!("{:?}", first.verdict)
        };
        assert_eq!((*live, *oldest_ms), (100.0, Some(1_040.0)));
        assert_eq!(
            (e.versus, e.older_than_ms, e.reference, e.reference_beyond),
            (Versus::OtherCallers, 1_000.0, 100.0, 0.0)
        );
        assert_eq!(
            (e.entries, e.beyond, e.lifetimes, e.p99_ms),
            (4.0, 4.0, 100.0, 5.0)
        );
        // 4 entries that all outlived 100 others: 1 / C(104, 4).
        let expected_chance = 1.0 / (101.0 * 102.0 * 103.0 * 104.0 / 24.0);
        assert!(
            (e.chance - expected_chance).abs() < expected_chance * 1e-9,
            "{e:?}"
        );
        assert!(site.suspect);
        assert_eq!(site.verdict, first.verdict);
        assert_eq!(frames(site.stack_id)[1], "getOrder (app.js:21:5)");
        // At 1 s nothing is older than the judgment age: nothing is said.
        assert!(
            early.sites[0].callers.iter().all(|c| !c.suspect),
            "{early:?}"
        );
        assert!(!early.sites[0].suspect);
    }

    /// One stack; 5% of its entries are never removed: outliers before any
    /// TTL, and the expiry share once they expire.
    #[test]
    fn a_fraction_of_lost_cleanups_is_flagged_by_outliers_then_expiry_share() {
        let mut interner = Interner::default();
        let stack = interner.intern(&["call (app.js:7:1)"]).unwrap();
        let run = |ledger: &mut Ledger| {
            let mut log = vec![];
            for i in 0..2_000u32 {
                let t = u64::from(i) / 2;
                log.extend(at(t));
                log.extend(ins(i, stack));
                if i % 20 != 0 {
                    log.extend(at(t + 1 + u64::from(i % 7)));
                    log.push(rm(i));
                }
            }
            ledger.drain(&log, 1_010).unwrap();
        };
        let mut ledger = Ledger::new(0, 0);
        run(&mut ledger);
        let entry = register(info(CallSites::All), ledger);
        let report = map_report(&entry, &Options::default(), Some(4_000), &interner);
        let before = map_report(&entry, &Options::default(), Some(1_500), &interner);
        unregister(entry.id);
        let site = &report.sites[0];
        assert_eq!((site.live, site.removes), (100.0, 1_900.0));
        let q = site.lifetime.unwrap();
        assert!(q.p99_ms >= 7.0 && q.p99_ms <= 8.0, "{q:?}");
        // At 4 s: 100 live entries are older than 1 s, the oldest 4 s, and
        // none of the 1,900 removed ones lived past 7 ms.
        let Some(Verdict::Outliers {
            scope: Scope::Caller,
            count,
            more,
            evidence: e,
            ..
        }) = &site.verdict
        else {
            panic!("{:?}", site.verdict)
        };
        assert_eq!((*count, *more), (100.0, false));
        assert_eq!(
            (
                e.versus,
                e.older_than_ms,
                e.reference,
                e.reference_beyond,
                e.entries,
                e.beyond
            ),
            (Versus::OwnHistory, 1_000.0, 1_900.0, 0.0, 2_000.0, 100.0)
        );
        assert!(e.chance < 1e-20, "{e:?}");
        assert!(site.callers[0].suspect);
        // At 1.5 s the oldest has not outlived the judgment age twice over.
        assert!(!before.sites[0].suspect, "{:?}", before.sites[0].verdict);
        // With a TTL of 1 s the lost entries expire: the share says so.
        let mut ledger = Ledger::new(1_000, 0);
        run(&mut ledger);
        ledger.drain(&[], 5_000).unwrap();
        let report = report_of(
            ledger,
            CallSites::All,
            &Options::default(),
            5_000,
            &interner,
        );
        let site = &report.sites[0];
        assert_eq!(
            (site.expired, site.removes, site.live),
            (100.0, 1_900.0, 0.0)
        );
        let share = |scope| {
            Some(Verdict::ExpiryShare {
                scope,
                expired: 100.0,
                removed: 1_900.0,
                share: 0.05,
                estimated: false,
            })
        };
        assert_eq!(site.callers[0].verdict, share(Scope::Caller));
        assert_eq!(site.verdict, share(Scope::Site));
    }

    /// Slow, variable lifetimes (1 ms to 5 s) with everything removed: no
    /// rule fires, however long after.
    #[test]
    fn a_clean_site_with_a_long_tail_is_not_flagged() {
        let mut interner = Interner::default();
        let stack = interner.intern(&["call (app.js:7:1)"]).unwrap();
        let mut ledger = Ledger::new(60_000, 0);
        let mut log = vec![];
        let mut seed = 7u64;
        for i in 0..2_000u32 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let lifetime = 1 + (seed >> 33) % 5_000;
            log.extend(at(u64::from(i)));
            log.extend(ins(i, stack));
            log.extend(at(u64::from(i) + lifetime));
            log.push(rm(i));
        }
        // Some still in flight, as on a busy server.
        for i in 2_000..2_050u32 {
            log.extend(at(9_000));
            log.extend(ins(i, stack));
        }
        ledger.drain(&log, 10_000).unwrap();
        let report = report_of(
            ledger,
            CallSites::All,
            &Options::default(),
            13_000,
            &interner,
        );
        assert!(report.sites.iter().all(|s| !s.suspect), "{report:?}");
        assert!(report.sites[0].callers.iter().all(|c| !c.suspect));
    }

    #[test]
    fn callers_past_the_limit_are_one_row() {
        let mut interner = Interner::default();
        let mut ledger = Ledger::new(0, 0);
        let mut log = vec![];
        for caller in 0..20u32 {
            let frame = format!("route{caller} (app.js:{caller}:1)");
            let stack = interner.intern(&["helper (lib.js:1:1)", &frame]).unwrap();
            log.extend(ins(caller, stack));
            log.push(rm(caller));
            log.extend(ins(100 + caller, stack));
        }
        ledger.drain(&log, 0).unwrap();
        let options = Options {
            callers: Some(16),
            ..Options::default()
        };
        let report = report_of(ledger, CallSites::All, &options, 0, &interner);
        let site = &report.sites[0];
        assert_eq!(site.callers.len(), 16);
        let other = site.other_callers.as_ref().unwrap();
        assert_eq!((other.callers, other.live, other.inserts), (4, 4.0, 8.0));
        assert_eq!(site.live, 20.0);
    }

    #[test]
    fn held_sites_are_marked_and_not_suspect_while_no_call_has_ended() {
        let mut interner = Interner::default();
        let site = interner.intern(&["call (core.js:40:7)"]).unwrap();
        let mut ledger = Ledger::new(0, 0);
        let mut log = vec![];
        for slot in 0..4u32 {
            log.extend([(slot << 3 | INSERT) as i32, (site | HELD_SITE) as i32]);
        }
        log.extend([(4 << 3 | INSERT) as i32, site as i32]);
        ledger.drain(&log, 0).unwrap();
        let report = report_of(
            ledger,
            CallSites::All,
            &Options::default(),
            60_000,
            &interner,
        );
        let held = report.sites.iter().find(|s| s.held).unwrap();
        assert_eq!(held.site, "call (core.js:40:7)");
        assert_eq!((held.live, held.removes), (4.0, 0.0));
        assert!(!held.suspect && held.verdict.is_none());
        assert!(held.callers.iter().all(|c| !c.suspect));
        let plain = report.sites.iter().find(|s| !s.held).unwrap();
        assert_eq!(plain.site, held.site);
        assert!(plain.suspect, "the same line's plain set is still judged");
    }
}

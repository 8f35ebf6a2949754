//! Turns ledgers into reports: per map, then per insert site sorted by live
//! count and age, bounded, with sampled figures scaled and marked as estimates
//! and suspicious sites flagged. Plain Rust; the binding converts the result
//! to JS objects with serde. Cost: O(sites) per map, never O(entries).

use crate::interner::Interner;
use crate::ledger::{Counts, Ledger, SiteLedger};
use crate::registry::{CallSites, MapEntry};
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

pub const DEFAULT_SITE_LIMIT: u32 = 20;

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only maps with this exact name.
    pub map: Option<String>,
    /// At most this many sites per map (default 20).
    pub limit: Option<u32>,
}

/// Figures are plain JS numbers (exact up to 2^53), not BigInts.
pub type Number = f64;

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
    /// True when the per-site figures are scaled up from sampled inserts.
    pub estimated: bool,
    pub flush_interval_ms: u32,
    /// When the figures were read (ms, the map's clock).
    pub at: Number,
    pub sites: Vec<SiteReport>,
    pub sites_omitted: u32,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SiteReport {
    pub site: String,
    pub stack: Vec<String>,
    pub live: Number,
    pub inserts: Number,
    pub removes: Number,
    pub expired: Number,
    pub overwrites: Number,
    pub oldest_age_ms: Option<Number>,
    pub removed_at: Vec<RemoveSite>,
    pub suspect: bool,
    pub reason: Option<String>,
    pub estimated: bool,
    /// Entries inserted by `hold()`/`acquire()`, never suspect (see [`suspicion`]).
    pub held: bool,
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

fn wall_clock_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `now` is the owner's clock when the owner asks; other threads pass `None`
/// and the wall clock is used (never earlier than the last drain).
pub fn map_report(
    entry: &MapEntry,
    options: &Options,
    now: Option<u64>,
    interner: &Interner,
) -> MapReport {
    let ledger = entry.ledger.lock();
    let now = now
        .unwrap_or_else(|| {
            if entry.info.wall_clock {
                wall_clock_ms()
            } else {
                0
            }
        })
        .max(ledger.now());
    let counts = ledger.counts();
    let scale = Scale::of(&ledger, entry.info.call_sites);
    let mut sites: Vec<SiteReport> = ledger
        .sites()
        .iter()
        .filter(|site| site.site != 0 && site.counts.inserts > 0)
        .map(|site| site_report(&ledger, site, now, scale, interner))
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
        estimated: scale.estimated,
        flush_interval_ms: entry.info.flush_interval_ms,
        at: now as Number,
        sites,
        sites_omitted,
    }
}

/// How sampled figures scale up to the whole map.
#[derive(Clone, Copy)]
struct Scale {
    factor: f64,
    estimated: bool,
}

impl Scale {
    fn of(ledger: &Ledger, mode: CallSites) -> Self {
        let recorded = ledger.recorded_inserts();
        let total = ledger.counts().inserts;
        if mode == CallSites::All || recorded == 0 || recorded == total {
            return Scale {
                factor: 1.0,
                estimated: false,
            };
        }
        Scale {
            factor: total as f64 / recorded as f64,
            estimated: true,
        }
    }

    fn apply(self, n: u64) -> u64 {
        (n as f64 * self.factor).round() as u64
    }

    /// Each figure is scaled and rounded on its own, except `inserts`, which
    /// is the sum of the scaled parts: the report keeps `live = inserts -
    /// removes - expired` exact (a reader checks it), and a site with nothing
    /// live still shows 0 live.
    fn counts(self, c: Counts) -> Counts {
        let live = self.apply(c.live);
        let removes = self.apply(c.removes);
        let expired = self.apply(c.expired);
        Counts {
            live,
            inserts: live + removes + expired,
            removes,
            expired,
            overwrites: self.apply(c.overwrites),
        }
    }
}

fn site_report(
    ledger: &Ledger,
    site: &SiteLedger,
    now: u64,
    scale: Scale,
    interner: &Interner,
) -> SiteReport {
    let counts = scale.counts(site.counts);
    let (suspect, reason) = if site.held {
        (false, None)
    } else {
        suspicion(&site.counts, &counts, scale.estimated)
    };
    SiteReport {
        site: interner
            .site_text(site.site)
            .unwrap_or("<unknown>")
            .to_owned(),
        stack: interner
            .site_stack(site.site)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        live: counts.live as Number,
        inserts: counts.inserts as Number,
        removes: counts.removes as Number,
        expired: counts.expired as Number,
        overwrites: counts.overwrites as Number,
        oldest_age_ms: ledger.site_oldest_age_ms(site, now).map(|ms| ms as Number),
        removed_at: removed_at(site, scale, interner),
        suspect,
        reason,
        estimated: scale.estimated,
        held: site.held,
    }
}

/// A site whose entries are inserted and never removed, or only ever expire,
/// is where a lost cleanup shows. The decision uses the recorded figures; the
/// reason quotes the figures the report shows (scaled, `~` when estimated), so
/// the reason line never contradicts the site line above it.
///
/// Held sites (`hold()`/`acquire()`) are never judged here: handle-ledger
/// removes their entries itself when the call ends, so a held entry that
/// lives long, or expires, is a slow call still in flight, not a lost cleanup.
fn suspicion(recorded: &Counts, shown: &Counts, estimated: bool) -> (bool, Option<String>) {
    if recorded.removes > 0 || recorded.inserts == 0 {
        return (false, None);
    }
    let approx = if estimated { "~" } else { "" };
    let reason = if recorded.expired > 0 && recorded.live == 0 {
        format!(
            "entries only ever expire ({approx}{} expired), never removed",
            shown.expired
        )
    } else if recorded.expired > 0 {
        format!(
            "never removed: {approx}{} live, {approx}{} expired by the TTL",
            shown.live, shown.expired
        )
    } else {
        "inserted but never removed".to_owned()
    };
    (true, Some(reason))
}

/// Remove sites with their share of the site's removes. Removes by
/// `clear()` are exact; the others are shared out in proportion to how often
/// each remove site was observed (a random sample, so the shares are unbiased).
fn removed_at(site: &SiteLedger, scale: Scale, interner: &Interner) -> Vec<RemoveSite> {
    let cleared: u64 = site.cleared_by.iter().map(|&(_, n)| n).sum();
    let observed: u64 = site.removed_at.iter().map(|&(_, n)| n).sum();
    let one_by_one = site.counts.removes.saturating_sub(cleared);
    let text = |remove_site: u32| {
        interner
            .site_text(remove_site)
            .unwrap_or("<unknown>")
            .to_owned()
    };
    let mut out: Vec<RemoveSite> = Vec::new();
    let mut add = |remove_site: u32, count: f64, estimated: bool| {
        let count = scale.apply(count.round() as u64) as Number;
        let site = text(remove_site);
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
    if observed > 0 {
        let share = one_by_one as f64 / observed as f64;
        let estimated = scale.estimated || observed < one_by_one;
        for &(remove_site, n) in &site.removed_at {
            add(remove_site, n as f64 * share, estimated);
        }
    }
    for &(clear_site, n) in &site.cleared_by {
        add(clear_site, n as f64, scale.estimated);
    }
    out.sort_by(|a, b| b.count.total_cmp(&a.count));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oplog::{HELD_SITE, INSERT, REMOVE, REMOVE_AT};
    use crate::registry::{register, unregister, MapInfo};

    fn info(mode: CallSites) -> MapInfo {
        MapInfo {
            name: "report-test".into(),
            thread_id: 0,
            call_sites: mode,
            sample_rate: 4,
            flush_interval_ms: 100,
            wall_clock: false,
        }
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
        assert_eq!(first.reason.as_deref(), Some("inserted but never removed"));
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

    #[test]
    fn held_sites_are_marked_and_never_suspect() {
        let mut interner = Interner::default();
        let site = interner.intern(&["call (core.js:40:7)"]).unwrap();
        let mut ledger = Ledger::new(0, 0);
        let mut log = vec![];
        for slot in 0..4u32 {
            log.extend([(slot << 3 | INSERT) as i32, (site | HELD_SITE) as i32]);
        }
        log.extend([(4 << 3 | INSERT) as i32, site as i32]);
        ledger.drain(&log, 0).unwrap();
        let entry = register(info(CallSites::All), ledger);
        let report = map_report(&entry, &Options::default(), Some(60_000), &interner);
        unregister(entry.id);
        let held = report.sites.iter().find(|s| s.held).unwrap();
        assert_eq!(held.site, "call (core.js:40:7)");
        assert_eq!((held.live, held.removes), (4.0, 0.0));
        assert!(!held.suspect && held.reason.is_none());
        let plain = report.sites.iter().find(|s| !s.held).unwrap();
        assert_eq!(plain.site, held.site);
        assert!(plain.suspect, "the same line's plain set is still judged");
    }

    #[test]
    fn sampled_figures_are_scaled_and_marked() {
        let mut interner = Interner::default();
        let site = interner.intern(&["s (a.js:1:1)"]).unwrap();
        let mut ledger = Ledger::new(0, 0);
        let mut log = vec![];
        for slot in 0..8u32 {
            let recorded = if slot % 4 == 0 { site } else { 0 };
            log.extend([(slot << 3 | INSERT) as i32, recorded as i32]);
        }
        ledger.drain(&log, 0).unwrap();
        let entry = register(info(CallSites::Sampled), ledger);
        let options = Options {
            limit: Some(0),
            ..Options::default()
        };
        let bounded = map_report(&entry, &options, Some(0), &interner);
        let report = map_report(&entry, &Options::default(), Some(0), &interner);
        unregister(entry.id);
        assert!(report.estimated);
        assert_eq!(report.sites[0].inserts, 8.0);
        assert_eq!(report.sites[0].live, 8.0);
        assert!(report.sites[0].estimated);
        assert_eq!((bounded.sites.len(), bounded.sites_omitted), (0, 1));
    }

    #[test]
    fn a_sampled_reason_quotes_the_scaled_figures() {
        let mut interner = Interner::default();
        let site = interner.intern(&["lost (a.js:2:1)"]).unwrap();
        let mut ledger = Ledger::new(10, 0);
        let mut log = vec![];
        for slot in 0..8u32 {
            let recorded = if slot % 4 == 0 { site } else { 0 };
            log.extend([(slot << 3 | INSERT) as i32, recorded as i32]);
        }
        ledger.drain(&log, 0).unwrap();
        assert_eq!(ledger.drain(&[], 10).unwrap().len(), 8);
        let mut log = vec![];
        for slot in 0..8u32 {
            let recorded = if slot % 4 == 0 { site } else { 0 };
            log.extend([(slot << 3 | INSERT) as i32, recorded as i32]);
        }
        ledger.drain(&log, 10).unwrap();
        let entry = register(info(CallSites::Sampled), ledger);
        let report = map_report(&entry, &Options::default(), Some(10), &interner);
        unregister(entry.id);
        let shown = &report.sites[0];
        assert_eq!((shown.live, shown.expired), (8.0, 8.0));
        assert_eq!(
            shown.reason.as_deref(),
            Some("never removed: ~8 live, ~8 expired by the TTL")
        );
        let (suspect, reason) = suspicion(
            &Counts {
                inserts: 3,
                expired: 3,
                ..Counts::default()
            },
            &Counts {
                inserts: 3,
                expired: 3,
                ..Counts::default()
            },
            false,
        );
        assert!(suspect);
        assert_eq!(
            reason.as_deref(),
            Some("entries only ever expire (3 expired), never removed")
        );
    }

    #[test]
    fn scaled_site_figures_add_up() {
        let scale = Scale {
            factor: 7.0 / 3.0,
            estimated: true,
        };
        for (live, removes, expired) in [(1, 1, 1), (5, 0, 7), (0, 3, 3), (2, 9, 0)] {
            let raw = Counts {
                live,
                inserts: live + removes + expired,
                removes,
                expired,
                overwrites: 0,
            };
            let c = scale.counts(raw);
            assert_eq!(c.live, c.inserts - c.removes - c.expired, "{raw:?}");
            assert_eq!(c.live == 0, live == 0);
            assert!(c.inserts.abs_diff(scale.apply(raw.inserts)) <= 2);
        }
    }
}

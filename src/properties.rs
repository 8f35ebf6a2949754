//! Property tests of the native invariants, driven by a
//! deterministic xorshift generator so every failure replays from its seed:
//!
//! - expiry: every scheduled slot expires exactly once, never before its
//!   stamp + TTL, and at the first advance that reaches its deadline;
//!   cancelled slots never expire; deadlines are exact when stamps only
//!   grow; under random traffic (stamps that go backwards included) and under
//!   the soak's traffic (a short TTL, most entries cancelled within
//!   milliseconds, slots reused, ticks every ~25 ms with stalls).
//! - ledger: per map and per site, live = inserts - removes - expired and
//!   every figure equals a model's; an expired entry is never live (entry()
//!   is None, a later remove is an error); an entry expires once, not early.
//! - interner: one id per distinct stack, stacks grouped by their top frame, and a
//!   full table answers the overflow site without losing old sites.
//! - oplog: decoding arbitrary words never panics; encoded operations decode
//!   back to themselves.

use crate::expiry::Expiry;
use crate::interner::{Interner, MAX_ENTRIES, OVERFLOW_SITE};
use crate::ledger::{Counts, Ledger, LedgerError};
use crate::oplog::{self, Op, CLEAR, INSERT, OVERWRITE, REMOVE, REMOVE_AT, TIME, TOUCH};
use std::collections::{BTreeMap, HashMap};

struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn word(slot: u32, code: u32) -> i32 {
    (slot << 3 | code) as i32
}

/// Advances the schedule and checks the expired set against the model exactly.
fn advance_and_check(
    expiry: &mut Expiry,
    model: &mut BTreeMap<u32, u64>,
    now: u64,
    what: &str,
) -> usize {
    let mut out = Vec::new();
    expiry.advance(now, &mut out);
    let mut due: Vec<u32> = model
        .iter()
        .filter(|(_, &when)| when <= now)
        .map(|(&slot, _)| slot)
        .collect();
    let mut got = out.clone();
    got.sort_unstable();
    let before = got.len();
    got.dedup();
    assert_eq!(
        before,
        got.len(),
        "{what}: a slot expired twice in one advance"
    );
    for slot in &got {
        match model.get(slot) {
            None => panic!(
                "{what}: slot {slot} expired but was not scheduled (cancelled or already expired)"
            ),
            Some(&when) => assert!(
                when <= now,
                "{what}: slot {slot} expired early: deadline {when}, now {now}"
            ),
        }
    }
    due.sort_unstable();
    assert_eq!(
        got, due,
        "{what}: expired set at {now} differs (late expiries are the missing ones)"
    );
    for slot in &due {
        model.remove(slot);
    }
    assert_eq!(expiry.len(), model.len(), "{what}: scheduled count");
    got.len()
}

#[test]
fn expiry_random_traffic_expires_exactly_once_never_early() {
    for seed in 1..=60u64 {
        let mut rng = Rng::new(seed);
        // Start anywhere, including just below a 2^32 ms boundary.
        let mut now = match seed % 4 {
            0 => rng.below(1 << 42),
            1 => (1 << 32) - 1 - rng.below(10_000),
            2 => 1_700_000_000_000 + rng.below(1 << 20),
            _ => rng.below(1_000),
        };
        let ttl = [1, 64, 70, 4_096, 300_000, 20_000_000][(seed % 6) as usize];
        let mut expiry = Expiry::new(ttl);
        let mut model = BTreeMap::new();
        for step in 0..4_000 {
            match rng.below(10) {
                0..=4 => {
                    let slot = rng.below(400) as u32;
                    // Mostly the clock, sometimes a stamp from the past (a
                    // custom clock that went back).
                    let from_the_past = rng.chance(20);
                    let stamp = if from_the_past {
                        now.saturating_sub(rng.below(2 * ttl))
                    } else {
                        now
                    };
                    expiry.schedule(slot, stamp);
                    let deadline = expiry.deadline(slot).expect("scheduled");
                    assert!(
                        deadline >= stamp + ttl,
                        "seed {seed} step {step}: deadline {deadline} before stamp {stamp} + ttl"
                    );
                    if !from_the_past {
                        assert_eq!(deadline, now + ttl, "seed {seed} step {step}: exact");
                    }
                    model.insert(slot, deadline);
                }
                5 | 6 => {
                    let slot = rng.below(400) as u32;
                    expiry.cancel(slot);
                    model.remove(&slot);
                }
                _ => {
                    now += [
                        0,
                        1,
                        63,
                        64,
                        65,
                        4_095,
                        4_097,
                        262_144,
                        700_000,
                        20_000_000,
                        3_000_000_000,
                    ][rng.below(11) as usize];
                    advance_and_check(
                        &mut expiry,
                        &mut model,
                        now,
                        &format!("seed {seed} step {step}"),
                    );
                }
            }
            for (&slot, &when) in &model {
                assert_eq!(
                    expiry.deadline(slot),
                    Some(when),
                    "seed {seed} step {step}: deadline of slot {slot}"
                );
            }
        }
        // Drain everything: each remaining slot expires exactly once.
        now += 1 << 32;
        advance_and_check(&mut expiry, &mut model, now, &format!("seed {seed} drain"));
        assert!(expiry.is_empty());
    }
}

/// The soak's traffic (bench/soak.js): a 200 ms TTL, ~1400 inserts per ms,
/// all but 1% cancelled within a few ms, slots reused LIFO, a tick every
/// ~25 ms with now and then a stall of up to seconds.
#[test]
fn expiry_soak_traffic_expires_exactly_once_never_early() {
    for seed in 1..=6u64 {
        let mut rng = Rng::new(seed);
        let ttl = 200;
        let mut now: u64 = 1_700_000_000_000 + rng.below(1 << 16);
        let mut expiry = Expiry::new(ttl);
        let mut model: BTreeMap<u32, u64> = BTreeMap::new();
        let mut free: Vec<u32> = Vec::new();
        let mut next_slot = 0u32;
        let mut in_flight: std::collections::VecDeque<u32> = Default::default();
        let mut leaked: Vec<u32> = Vec::new();
        let mut expired_total = 0usize;
        for tick in 0..6_000 {
            // One drain's worth of operations, all stamped `now` (a wall clock map).
            let inserts = 50 + rng.below(400);
            for _ in 0..inserts {
                let slot = free.pop().unwrap_or_else(|| {
                    next_slot += 1;
                    next_slot - 1
                });
                expiry.schedule(slot, now);
                model.insert(slot, now + ttl);
                if rng.chance(1) {
                    leaked.push(slot);
                } else {
                    in_flight.push_back(slot);
                }
                while in_flight.len() > 256 {
                    let old = in_flight.pop_front().unwrap();
                    assert!(
                        model.contains_key(&old),
                        "seed {seed} tick {tick}: in-flight slot {old} expired early"
                    );
                    expiry.cancel(old);
                    model.remove(&old);
                    free.push(old);
                }
            }
            now += match rng.below(200) {
                0 => 64 + rng.below(5_000),
                1..=5 => 26 + rng.below(80),
                _ => 20 + rng.below(10),
            };
            let before: Vec<u32> = model.keys().copied().collect();
            expired_total += advance_and_check(
                &mut expiry,
                &mut model,
                now,
                &format!("soak seed {seed} tick {tick}"),
            );
            for slot in before {
                if !model.contains_key(&slot) {
                    in_flight.retain(|&s| s != slot);
                    leaked.retain(|&s| s != slot);
                    free.push(slot);
                }
            }
        }
        assert!(expired_total > 0);
    }
}

#[derive(Clone, Copy)]
struct Live {
    site: u32,
    inserted: u64,
    deadline: u64,
    weight: u64,
}

/// Random operation logs against a model of the ledger, with a fake clock
/// (TIME words), sites, touch, overwrite, remove with and without a site,
/// clear, and expiry.
#[test]
fn ledger_matches_model_and_live_is_inserts_minus_removes_minus_expired() {
    for seed in 1..=40u64 {
        let mut rng = Rng::new(seed);
        let ttl = [0u64, 1, 7, 100, 5_000][(seed % 5) as usize];
        let start = [0u64, 1 << 32, 1_700_000_000_000][(seed % 3) as usize] + rng.below(1_000);
        let mut now = start;
        let mut ledger = Ledger::new(ttl, now);
        let mut live: HashMap<u32, Live> = HashMap::new();
        let mut sites: HashMap<u32, Counts> = HashMap::new();
        let mut total = Counts::default();
        let mut expired_ever: HashMap<u32, u64> = HashMap::new();
        let mut unweighed = 0u64; // slot -> times expired while not re-inserted
        for step in 0..3_000 {
            // Like the facade with a custom clock: operations are stamped by
            // TIME words (without one they would take the drain's clock).
            let mut log = vec![TIME as i32, now as u32 as i32, (now >> 32) as i32];
            let ops = 1 + rng.below(20);
            for _ in 0..ops {
                if rng.chance(20) {
                    now += rng.below(3 * ttl.max(1) + 2);
                    log.extend([TIME as i32, now as u32 as i32, (now >> 32) as i32]);
                }
                let slot = rng.below(64) as u32;
                match (live.get(&slot).copied(), rng.below(12)) {
                    (None, 0) => {
                        log.extend([CLEAR as i32, rng.below(3) as i32 + 90]);
                        for (_, entry) in live.drain() {
                            let c = sites.entry(entry.site).or_default();
                            c.live -= entry.weight;
                            c.removes += entry.weight;
                            total.live -= 1;
                            total.removes += 1;
                        }
                    }
                    (None, _) => {
                        let site = if rng.chance(30) {
                            0
                        } else {
                            2 + rng.below(5) as u32
                        };
                        // A recorded insert weighs the unrecorded ones since
                        // the last recorded insert.
                        let weight = if site == 0 {
                            unweighed += 1;
                            1
                        } else {
                            1 + std::mem::take(&mut unweighed)
                        };
                        log.extend([word(slot, INSERT), site as i32]);
                        live.insert(
                            slot,
                            Live {
                                site,
                                inserted: now,
                                deadline: now + ttl,
                                weight,
                            },
                        );
                        expired_ever.remove(&slot);
                        let c = sites.entry(site).or_default();
                        c.live += weight;
                        c.inserts += weight;
                        total.live += 1;
                        total.inserts += 1;
                    }
                    (Some(entry), 0..=2) => {
                        log.push(word(slot, TOUCH));
                        live.get_mut(&slot).unwrap().deadline = now + ttl;
                        let _ = entry;
                    }
                    (Some(entry), 3..=4) => {
                        log.push(word(slot, OVERWRITE));
                        live.get_mut(&slot).unwrap().deadline = now + ttl;
                        sites.entry(entry.site).or_default().overwrites += entry.weight;
                        total.overwrites += 1;
                    }
                    (Some(entry), code) => {
                        if code % 2 == 0 {
                            log.extend([word(slot, REMOVE_AT), 50 + rng.below(3) as i32]);
                        } else {
                            log.push(word(slot, REMOVE));
                        }
                        live.remove(&slot);
                        let c = sites.entry(entry.site).or_default();
                        c.live -= entry.weight;
                        c.removes += entry.weight;
                        total.live -= 1;
                        total.removes += 1;
                    }
                }
            }
            // The drain's clock is at least the last stamp.
            if rng.chance(30) {
                now += rng.below(2 * ttl.max(1) + 1);
            }
            let expired = ledger
                .drain(&log, now)
                .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
            for e in &expired {
                let entry = live.remove(&e.slot).unwrap_or_else(|| {
                    panic!(
                        "seed {seed} step {step}: slot {} expired but is not live",
                        e.slot
                    )
                });
                assert!(ttl > 0, "seed {seed}: expiry without a TTL");
                assert!(
                    entry.deadline <= now,
                    "seed {seed} step {step}: slot {} expired early (deadline {}, now {now})",
                    e.slot,
                    entry.deadline
                );
                assert_eq!(e.site, entry.site, "seed {seed} step {step}: expired site");
                assert_eq!(
                    e.age_ms,
                    now - entry.inserted,
                    "seed {seed} step {step}: age of the expired entry"
                );
                *expired_ever.entry(e.slot).or_default() += 1;
                assert_eq!(
                    expired_ever[&e.slot], 1,
                    "seed {seed}: slot {} expired twice",
                    e.slot
                );
                assert!(
                    ledger.entry(e.slot, now).is_none(),
                    "seed {seed}: an expired slot is still live"
                );
                let c = sites.entry(entry.site).or_default();
                c.live -= entry.weight;
                c.expired += entry.weight;
                total.live -= 1;
                total.expired += 1;
            }
            // Nothing due is left behind.
            for (slot, entry) in &live {
                if ttl > 0 {
                    assert!(entry.deadline > now, "seed {seed} step {step}: slot {slot} is overdue (deadline {}, now {now}) but did not expire", entry.deadline);
                }
                let info = ledger.entry(*slot, now).unwrap_or_else(|| {
                    panic!("seed {seed}: live slot {slot} unknown to the ledger")
                });
                assert_eq!(
                    info.age_ms,
                    now - entry.inserted,
                    "seed {seed} step {step}: age of slot {slot}"
                );
                assert_eq!(
                    info.expires_in_ms,
                    (ttl > 0).then(|| entry.deadline - now),
                    "seed {seed} step {step}: expiresIn of slot {slot}"
                );
                assert_eq!(info.site, entry.site, "seed {seed}: site of slot {slot}");
            }
            assert_eq!(
                ledger.counts(),
                total,
                "seed {seed} step {step}: map counts"
            );
            for site in ledger.sites() {
                let c = site.counts;
                assert_eq!(
                    c.live,
                    c.inserts - c.removes - c.expired,
                    "seed {seed}: site {} live != inserts - removes - expired",
                    site.site
                );
                assert_eq!(
                    c,
                    sites.get(&site.site).copied().unwrap_or_default(),
                    "seed {seed} step {step}: site {}",
                    site.site
                );
            }
            assert_eq!(
                ledger.scheduled(),
                if ttl > 0 { live.len() } else { 0 },
                "seed {seed}: scheduled = live"
            );
        }
        // An expired slot cannot be removed: it is not live.
        if let Some((&slot, _)) = expired_ever.iter().find(|(s, _)| !live.contains_key(s)) {
            assert_eq!(
                ledger.drain(&[word(slot, REMOVE)], now),
                Err(LedgerError::NotLive("remove", slot))
            );
        }
    }
}

#[test]
fn interner_one_id_per_stack_and_stacks_grouped_by_their_top_frame() {
    let mut rng = Rng::new(7);
    let mut interner = Interner::default();
    let mut ids: HashMap<Vec<String>, u32> = HashMap::new();
    let mut sites: HashMap<String, u32> = HashMap::new();
    for _ in 0..20_000 {
        let depth = 1 + rng.below(5) as usize;
        let frames: Vec<String> = (0..depth)
            .map(|_| {
                format!(
                    "f{} (file{}.js:{}:1)",
                    rng.below(50),
                    rng.below(3),
                    rng.below(40)
                )
            })
            .collect();
        let refs: Vec<&str> = frames.iter().map(String::as_str).collect();
        let id = interner.intern(&refs).unwrap();
        assert!(id > OVERFLOW_SITE);
        match ids.get(&frames) {
            Some(&known) => assert_eq!(known, id, "the same stack must keep its id"),
            None => {
                assert!(
                    !ids.values().any(|&other| other == id),
                    "two stacks share an id"
                );
                ids.insert(frames.clone(), id);
            }
        }
        let site = interner.site_of(id).unwrap();
        assert_eq!(
            *sites.entry(frames[0].clone()).or_insert(site),
            site,
            "one site per top frame"
        );
        assert_eq!(interner.site_text(id), Some(frames[0].as_str()));
    }
    for (stack, id) in &ids {
        assert_eq!(
            interner.site_stack(*id),
            stack.iter().map(String::as_str).collect::<Vec<_>>(),
            "stack {id} keeps its frames"
        );
    }
}

#[test]
fn interner_full_table_answers_overflow_and_keeps_old_sites() {
    let mut interner = Interner::default();
    let old = interner.intern(&["old (a.js:1:1)"]).unwrap();
    let mut overflowed_at = None;
    for i in 0..MAX_ENTRIES + 10 {
        let frame = format!("g{i} (gen.js:{i}:1)");
        let id = interner.intern(&[frame.as_str()]).unwrap();
        if id == OVERFLOW_SITE && overflowed_at.is_none() {
            overflowed_at = Some(i);
        }
    }
    assert!(
        overflowed_at.is_some(),
        "the table must overflow at MAX_ENTRIES"
    );
    assert_eq!(
        interner.intern(&["brand new (b.js:1:1)"]),
        Ok(OVERFLOW_SITE)
    );
    assert_eq!(
        interner.intern(&["old (a.js:1:1)"]),
        Ok(old),
        "known sites still resolve"
    );
    assert_eq!(interner.site_text(old), Some("old (a.js:1:1)"));
    assert!(interner
        .site_text(OVERFLOW_SITE)
        .unwrap()
        .contains("too many distinct call sites"));
    assert!(interner.distinct_frames() <= MAX_ENTRIES);
}

#[test]
fn oplog_decoding_never_panics_and_round_trips() {
    let mut rng = Rng::new(11);
    for _ in 0..20_000 {
        let len = rng.below(12) as usize;
        let words: Vec<i32> = (0..len).map(|_| rng.next() as i32).collect();
        let decoded: Vec<_> = oplog::decode(&words).collect();
        // At most one error, and it is the last item.
        if let Some(at) = decoded.iter().position(Result::is_err) {
            assert_eq!(at, decoded.len() - 1);
        }
    }
    for _ in 0..5_000 {
        let mut words = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..rng.below(10) {
            let slot = rng.below(1 << 29) as u32;
            let site = rng.next() as u32;
            match rng.below(7) {
                0 => {
                    words.extend([word(slot, INSERT), site as i32]);
                    expected.push(Op::Insert { slot, site })
                }
                1 => {
                    words.push(word(slot, REMOVE));
                    expected.push(Op::Remove { slot, site: 0 })
                }
                2 => {
                    words.extend([word(slot, REMOVE_AT), site as i32]);
                    expected.push(Op::Remove { slot, site })
                }
                3 => {
                    words.push(word(slot, OVERWRITE));
                    expected.push(Op::Overwrite { slot })
                }
                4 => {
                    words.push(word(slot, TOUCH));
                    expected.push(Op::Touch { slot })
                }
                5 => {
                    words.extend([CLEAR as i32, site as i32]);
                    expected.push(Op::Clear { site })
                }
                _ => {
                    let ms = rng.next();
                    let coarse = rng.chance(50);
                    let code = if coarse {
                        TIME | oplog::TIME_COARSE
                    } else {
                        TIME
                    };
                    words.extend([code as i32, ms as u32 as i32, (ms >> 32) as u32 as i32]);
                    expected.push(Op::Time { ms, coarse })
                }
            }
        }
        let decoded: Vec<Op> = oplog::decode(&words).map(Result::unwrap).collect();
        assert_eq!(decoded, expected);
    }
}

/// No clock value panics the expiry schedule or the ledger (the binding refuses clocks
/// beyond 2^52 ms, but the plain-Rust API takes any u64). Within the
/// documented domain an entry is never expired early; at the very end of u64
/// there is no "later", and only the absence of a panic is asserted.
#[test]
fn expiry_does_not_panic_near_the_end_of_time() {
    for now in [
        (1u64 << 48),
        (1 << 52),
        (1 << 63),
        u64::MAX - (1 << 31),
        u64::MAX - 2047,
        u64::MAX - 1,
        u64::MAX,
    ] {
        let in_domain = now <= 1 << 52;
        let mut expiry = Expiry::new(100);
        expiry.schedule(0, now);
        let mut out = Vec::new();
        expiry.advance(now, &mut out);
        assert!(
            !in_domain || out.is_empty(),
            "clock {now}: an entry expired before its deadline"
        );
        let mut ledger = Ledger::new(100, now);
        ledger.drain(&[word(0, INSERT), 0], now).unwrap();
        let expired = ledger.drain(&[], now).unwrap();
        assert!(
            !in_domain || expired.is_empty(),
            "clock {now}: an entry expired at once"
        );
    }
}

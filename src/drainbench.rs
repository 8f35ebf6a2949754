//! What the ledger costs per operation, without JS: the drain side of a
//! set+delete cycle with 10k live entries.
//! `cargo test --release drain_cost -- --ignored --nocapture`

#[test]
#[ignore]
fn drain_cost() {
    use crate::ledger::Ledger;
    use std::time::Instant;
    for ttl in [0u64, 30_000] {
        let mut ledger = Ledger::new(ttl, 1_000);
        let live = 10_000u32;
        let mut log = Vec::new();
        for s in 0..live {
            log.extend([((s << 3) | 1) as i32, 0]);
        }
        ledger.drain(&log, 1_000).unwrap();
        let cycles = 2_000_000u32;
        let mut free: Vec<u32> = Vec::new();
        let mut ring: std::collections::VecDeque<u32> = (0..live).collect();
        let mut next = live;
        let mut batches = Vec::new();
        let mut log = Vec::new();
        for _ in 0..cycles {
            let s = free.pop().unwrap_or_else(|| {
                next += 1;
                next - 1
            });
            log.extend([((s << 3) | 1) as i32, 0]);
            ring.push_back(s);
            let old = ring.pop_front().unwrap();
            log.push(((old << 3) | 2) as i32);
            free.push(old);
            if log.len() > 8000 {
                batches.push(std::mem::take(&mut log));
            }
        }
        let t = Instant::now();
        let mut now = 1_000;
        for b in &batches {
            now += 1;
            ledger.drain(b, now).unwrap();
        }
        let ns = t.elapsed().as_nanos() as f64 / cycles as f64;
        println!("ttl {ttl}: {ns:.1} ns per insert+remove");
    }
}

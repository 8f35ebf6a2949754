//! How long entries live before they are removed: a fixed-size histogram of
//! ages at removal with log-sized buckets (HdrHistogram's layout with two
//! sub-bucket bits), so a quantile is known within 25% of its value at any
//! scale from 1 ms to years, in 560 bytes per stack, never per entry.

/// Ages below this are their own bucket (exact).
const EXACT: u64 = 8;
/// Sub-buckets per power of two: 2^2, so a bucket spans at most 1/4 of its
/// lower bound.
const SUB_BITS: u32 = 2;
/// Ages at or above 2^36 ms (2 years) share the last bucket.
const MAX_EXPONENT: u32 = 35;
pub const BUCKETS: usize = EXACT as usize + ((MAX_EXPONENT - 2) << SUB_BITS) as usize;

/// Ages at removal of one stack's (or, merged, one site's) entries. Counts are
/// weights (an unrecorded insert's weight rides on the next recorded one), so
/// a quantile estimates the whole map's traffic.
#[derive(Clone, Debug, Default)]
pub struct Lifetimes {
    /// Allocated at the first removal: stacks that never remove cost nothing.
    buckets: Option<Box<[u32; BUCKETS]>>,
    max_ms: u64,
    /// Removes recorded (each once, whatever its weight): how many lifetimes
    /// the verdicts' tests have seen, as opposed to how many they stand for.
    samples: u64,
}

/// The figures a report shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantiles {
    pub count: u64,
    pub p50_ms: u64,
    pub p99_ms: u64,
    /// What entries outlive 1 time in 1000 (a bucket's upper bound, capped
    /// at the max).
    pub p999_ms: u64,
    pub max_ms: u64,
}

fn bucket_of(age_ms: u64) -> usize {
    if age_ms < EXACT {
        return age_ms as usize;
    }
    let exponent = (63 - age_ms.leading_zeros()).min(MAX_EXPONENT);
    if exponent == MAX_EXPONENT && age_ms >> MAX_EXPONENT > 1 {
        return BUCKETS - 1;
    }
    let sub = (age_ms >> (exponent - SUB_BITS)) as usize & ((1 << SUB_BITS) - 1);
    EXACT as usize + (((exponent - 3) << SUB_BITS) as usize) + sub
}

/// The largest age that falls in `bucket` (quantiles never understate).
fn upper_bound(bucket: usize) -> u64 {
    if bucket < EXACT as usize {
        return bucket as u64;
    }
    let above = bucket - EXACT as usize;
    let exponent = 3 + (above >> SUB_BITS) as u32;
    let sub = (above & ((1 << SUB_BITS) - 1)) as u64;
    let step = 1u64 << (exponent - SUB_BITS);
    (1u64 << exponent) + (sub + 1) * step - 1
}

impl Lifetimes {
    pub fn record(&mut self, age_ms: u64, weight: u64) {
        let buckets = self.buckets.get_or_insert_with(|| Box::new([0; BUCKETS]));
        let bucket = bucket_of(age_ms);
        let mut sum = u64::from(buckets[bucket]) + weight;
        // A full bucket halves them all: the shape (every quantile) stays.
        while sum > u64::from(u32::MAX) {
            for count in buckets.iter_mut() {
                *count /= 2;
            }
            sum = u64::from(buckets[bucket]) + weight.div_ceil(2);
        }
        buckets[bucket] = sum as u32;
        self.max_ms = self.max_ms.max(age_ms);
        self.samples += 1;
    }

    pub fn quantiles(&self) -> Option<Quantiles> {
        let buckets = self.buckets.as_ref()?;
        let wide: Vec<u64> = buckets.iter().map(|&c| u64::from(c)).collect();
        quantiles_of(&wide, self.max_ms)
    }

    pub fn max_ms(&self) -> u64 {
        self.max_ms
    }

    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// This histogram's bucket counts, widened (empty: all zero).
    pub fn add_to(&self, into: &mut [u64; BUCKETS]) {
        if let Some(buckets) = &self.buckets {
            for (sum, &count) in into.iter_mut().zip(buckets.iter()) {
                *sum += u64::from(count);
            }
        }
    }
}

/// How many of the counted lifetimes may lie above `ms`: a bucket that
/// straddles `ms` counts as above (buckets are up to a quarter wide; a
/// reference that outlived an age more often cannot overstate the evidence
/// against the entries judged).
pub fn count_above(buckets: &[u64], max_ms: u64, ms: u64) -> u64 {
    if max_ms <= ms {
        return 0;
    }
    buckets
        .iter()
        .enumerate()
        .filter(|&(bucket, _)| upper_bound(bucket) > ms)
        .map(|(_, &n)| n)
        .sum()
}

#[cfg(test)]
/// The smallest age that falls in `bucket`.
fn lower_bound(bucket: usize) -> u64 {
    if bucket == 0 {
        0
    } else {
        upper_bound(bucket - 1) + 1
    }
}

/// p50 / p99 (each a bucket's upper bound, capped at the exact max) of
/// bucket counts; None when nothing was counted.
pub fn quantiles_of(buckets: &[u64], max_ms: u64) -> Option<Quantiles> {
    let count: u64 = buckets.iter().sum();
    if count == 0 {
        return None;
    }
    let at = |q: f64| {
        let rank = ((count as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, &n) in buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return upper_bound(bucket).min(max_ms);
            }
        }
        max_ms
    };
    Some(Quantiles {
        count,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        p999_ms: at(0.999),
        max_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_bound_their_values_within_a_quarter() {
        let mut last = 0;
        for age in (0..100_000u64).chain([1 << 30, (1 << 35) + 5, 1 << 40, u64::MAX]) {
            let bucket = bucket_of(age);
            assert!(bucket < BUCKETS, "{age}");
            assert!(bucket >= last || age > 100_000, "{age}");
            last = bucket;
            if bucket < BUCKETS - 1 {
                let upper = upper_bound(bucket);
                assert!(upper >= age, "{age} above its bucket's bound {upper}");
                assert!(
                    (upper - age) as f64 <= age as f64 / 4.0,
                    "{age}: bound {upper} too far"
                );
            }
        }
        assert_eq!(std::mem::size_of::<[u32; BUCKETS]>(), 560);
    }

    #[test]
    fn quantiles_follow_the_recorded_ages_with_weights() {
        let mut lifetimes = Lifetimes::default();
        assert_eq!(lifetimes.quantiles(), None);
        for age in 1..=1_000u64 {
            lifetimes.record(age, 1);
        }
        lifetimes.record(60_000, 10);
        let q = lifetimes.quantiles().unwrap();
        assert_eq!(q.count, 1_010);
        assert!((500..=625).contains(&q.p50_ms), "{q:?}");
        assert!((1_000..=1_250).contains(&q.p99_ms), "{q:?}");
        assert_eq!(q.max_ms, 60_000);
        // Weight moves the quantiles: 1,500 more at 60 s puts p50 there.
        lifetimes.record(60_000, 1_500);
        assert_eq!(lifetimes.quantiles().unwrap().p50_ms, 60_000);
    }

    #[test]
    fn counts_above_an_age_include_a_straddling_bucket() {
        let mut lifetimes = Lifetimes::default();
        for age in [1u64, 5, 40, 41, 1_000, 5_000] {
            lifetimes.record(age, 1);
        }
        let mut buckets = [0u64; BUCKETS];
        lifetimes.add_to(&mut buckets);
        let max = lifetimes.max_ms();
        assert_eq!(lifetimes.samples(), 6);
        // 40 and 41 share the bucket 40..=47: both may be above 40.
        assert_eq!(count_above(&buckets, max, 40), 4);
        assert_eq!(count_above(&buckets, max, 47), 2);
        assert_eq!(
            count_above(&buckets, max, 5_000),
            0,
            "nothing lived past the max"
        );
        assert_eq!(count_above(&buckets, max, 0), 6);
        for bucket in 1..BUCKETS {
            assert_eq!(lower_bound(bucket), upper_bound(bucket - 1) + 1);
            assert_eq!(bucket_of(lower_bound(bucket)), bucket);
        }
    }

    #[test]
    fn a_full_bucket_halves_all_and_keeps_the_shape() {
        let mut lifetimes = Lifetimes::default();
        lifetimes.record(5, u64::from(u32::MAX) - 1);
        lifetimes.record(5_000, u64::from(u32::MAX) / 3);
        lifetimes.record(5, 10);
        let q = lifetimes.quantiles().unwrap();
        assert_eq!(q.p50_ms, 5);
        assert!(q.p99_ms >= 5_000);
    }
}

//! The operation log: how the JS facade tells the ledger what happened.
//!
//! JS appends one to three `i32` words per operation to an `Int32Array` and the
//! ledger drains the whole array in one native call (every few thousand
//! operations, or on each tick), so a `set` or `delete` never crosses into
//! native code itself. The first word of an operation is `slot << 3 | code`.
//! These constants are the only definition of the codes: the binding exports
//! them (`opCodes()`) and `lib/map/op-codes.js` reads them from there at load.

pub const CODE_BITS: u32 = 3;
pub const INSERT: u32 = 1; // [slot|1, site]
pub const REMOVE: u32 = 2; // [slot|2]
pub const REMOVE_AT: u32 = 3; // [slot|3, remove site]
pub const OVERWRITE: u32 = 4; // [slot|4]
pub const TOUCH: u32 = 5; // [slot|5]
pub const CLEAR: u32 = 6; // [6, clear site]
pub const TIME: u32 = 7; // [7, low 32 bits, high bits] of the clock in ms
/// Set in a TIME word (above the code) when the time came from the coarse
/// clock (`ticker.rs`): it may lag the operations it stamps when that
/// thread was not scheduled, so it dates entries (ages, lifetimes) but their
/// deadlines start no earlier than the batch's own time: never early.
pub const TIME_COARSE: u32 = 1 << CODE_BITS;
/// Set in an INSERT's site word when `hold()`/`acquire()` inserted the entry
/// (handle-ledger removes it itself when the call ends). Site ids stay below
/// 2^20, so the bit never collides with one.
pub const HELD_SITE: u32 = 1 << 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Insert { slot: u32, site: u32 },
    Remove { slot: u32, site: u32 },
    Overwrite { slot: u32 },
    Touch { slot: u32 },
    Clear { site: u32 },
    Time { ms: u64, coarse: bool },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
    pub word: i32,
    pub reason: &'static str,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "corrupt operation log at word {} ({:#x}): {}",
            self.offset, self.word, self.reason
        )
    }
}

/// Decodes `words` into operations, stopping at the first malformed one.
pub fn decode(words: &[i32]) -> Decoder<'_> {
    Decoder { words, at: 0 }
}

pub struct Decoder<'a> {
    words: &'a [i32],
    at: usize,
}

impl Decoder<'_> {
    /// The `n`th word after the operation's first, which must exist.
    #[inline(always)]
    fn operand(&self, n: usize) -> Result<u32, DecodeError> {
        match self.words.get(self.at + n) {
            Some(&w) => Ok(w as u32),
            None => Err(self.error("operation cut short")),
        }
    }

    // Kept out of line: the drain loop stays small, and errors are rare.
    #[cold]
    #[inline(never)]
    fn error(&self, reason: &'static str) -> DecodeError {
        DecodeError {
            offset: self.at,
            word: self.words[self.at],
            reason,
        }
    }

    /// Decodes the operation at `at`, moves past it, and hands it to
    /// `visit`. Each arm calls `visit` with a known variant, so once inlined
    /// the consumer's own match on the operation disappears: the drain loop
    /// dispatches once per operation, not twice.
    #[inline(always)]
    fn step<R>(&mut self, visit: impl FnOnce(Op) -> R) -> Result<R, DecodeError> {
        let word = self.words[self.at] as u32;
        let slot = word >> CODE_BITS;
        match word & ((1 << CODE_BITS) - 1) {
            INSERT => {
                let site = self.operand(1)?;
                Ok(self.pass(2, visit, Op::Insert { slot, site }))
            }
            REMOVE => Ok(self.pass(1, visit, Op::Remove { slot, site: 0 })),
            REMOVE_AT => {
                let site = self.operand(1)?;
                Ok(self.pass(2, visit, Op::Remove { slot, site }))
            }
            OVERWRITE => Ok(self.pass(1, visit, Op::Overwrite { slot })),
            TOUCH => Ok(self.pass(1, visit, Op::Touch { slot })),
            CLEAR => {
                let site = self.operand(1)?;
                Ok(self.pass(2, visit, Op::Clear { site }))
            }
            TIME => {
                let ms = u64::from(self.operand(1)?) | (u64::from(self.operand(2)?) << 32);
                let coarse = word & TIME_COARSE != 0;
                Ok(self.pass(3, visit, Op::Time { ms, coarse }))
            }
            _ => Err(self.error("unknown operation code")),
        }
    }

    /// Moves past an operation of `len` words and hands it on.
    #[inline(always)]
    fn pass<R>(&mut self, len: usize, visit: impl FnOnce(Op) -> R, op: Op) -> R {
        self.at += len;
        visit(op)
    }
}

/// Hands each operation of `words` to `apply` in order, stopping at the first
/// malformed one (as a [`DecodeError`]) or at `apply`'s first error. The same
/// operations as [`decode`] yields, without an `Op` passed back per step.
#[inline(always)]
pub fn apply_each<E: From<DecodeError>>(
    words: &[i32],
    mut apply: impl FnMut(Op) -> Result<(), E>,
) -> Result<(), E> {
    let mut decoder = decode(words);
    while decoder.at < words.len() {
        // Not `&mut apply`: the `FnOnce for &mut F` shim is not always
        // inlined, and then every operation is a call (measured: 3x slower).
        #[allow(clippy::redundant_closure)]
        decoder.step(
            #[inline(always)]
            |op| apply(op),
        )??;
    }
    Ok(())
}

impl Iterator for Decoder<'_> {
    type Item = Result<Op, DecodeError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.words.len() {
            return None;
        }
        let result = self.step(|op| op);
        if result.is_err() {
            self.at = self.words.len();
        }
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(slot: u32, code: u32) -> i32 {
        (slot << CODE_BITS | code) as i32
    }

    #[test]
    fn decodes_every_operation() {
        let words = [
            word(5, INSERT),
            9,
            word(5, OVERWRITE),
            word(5, TOUCH),
            word(5, REMOVE_AT),
            4,
            word(6, REMOVE),
            CLEAR as i32,
            0,
            TIME as i32,
            -1,
            1,
            (TIME | TIME_COARSE) as i32,
            5,
            0,
        ];
        let ops: Vec<Op> = decode(&words).map(Result::unwrap).collect();
        assert_eq!(
            ops,
            vec![
                Op::Insert { slot: 5, site: 9 },
                Op::Overwrite { slot: 5 },
                Op::Touch { slot: 5 },
                Op::Remove { slot: 5, site: 4 },
                Op::Remove { slot: 6, site: 0 },
                Op::Clear { site: 0 },
                Op::Time {
                    ms: (1 << 32) | 0xffff_ffff,
                    coarse: false
                },
                Op::Time {
                    ms: 5,
                    coarse: true
                },
            ]
        );
    }

    #[test]
    fn large_slots_survive_the_sign_bit() {
        let slot = (1 << 29) - 1;
        let ops: Vec<_> = decode(&[word(slot, REMOVE)]).collect();
        assert_eq!(ops, vec![Ok(Op::Remove { slot, site: 0 })]);
    }

    #[test]
    fn truncated_and_unknown_operations_are_errors_not_panics() {
        assert!(decode(&[word(1, INSERT)]).next().unwrap().is_err());
        assert!(decode(&[0]).next().unwrap().is_err());
        assert!(decode(&[TIME as i32, 1]).next().unwrap().is_err());
        let words = [0, word(1, REMOVE)];
        let mut decoder = decode(&words);
        assert!(decoder.next().unwrap().is_err());
        assert!(decoder.next().is_none());
    }
}

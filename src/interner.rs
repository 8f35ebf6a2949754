//! Call-site interning, as Linux's stackdepot does it: every distinct frame
//! string and every distinct stack is stored once and named by a small id, so
//! an entry carries a `u32` instead of a string.
//!
//! An insert is attributed to its whole *stack* (up to `stackDepth` frames,
//! innermost first): the id an operation carries is a stack id, so two callers
//! of one shared helper are told apart. The *site* of a stack is its top frame
//! (`fn (file:line:col)`); reports group stacks by it ([`Interner::site_of`]).
//! Id 0 means "not recorded", id 1 "too many distinct stacks".

use std::collections::HashMap;

/// A process cannot intern more than this many distinct frames or stacks
/// (generated code could otherwise grow the table without bound); past it,
/// new sites are all reported as [`OVERFLOW_SITE`].
pub const MAX_ENTRIES: usize = 1 << 20;
pub const NO_SITE: u32 = 0;
pub const OVERFLOW_SITE: u32 = 1;
const OVERFLOW_TEXT: &str = "<too many distinct call sites> (handle-ledger)";

pub struct Interner {
    frames: Vec<Box<str>>,
    frame_ids: HashMap<Box<str>, u32>,
    stacks: Vec<Box<[u32]>>,
    stack_ids: HashMap<Box<[u32]>, u32>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum InternError {
    EmptyStack,
}

impl Default for Interner {
    fn default() -> Self {
        let mut interner = Interner {
            frames: Vec::new(),
            frame_ids: HashMap::new(),
            stacks: Vec::new(),
            stack_ids: HashMap::new(),
        };
        // Ids 0 and 1 are reserved: "no site" and "too many sites", for
        // frames and stacks alike (stack 1 is the one frame 1).
        interner.frames.push("".into());
        interner.frames.push(OVERFLOW_TEXT.into());
        interner.stacks.push(Box::new([]));
        interner.stacks.push(Box::new([OVERFLOW_SITE]));
        interner
    }
}

impl Interner {
    /// Interns a stack (innermost frame first) and returns its stack id.
    pub fn intern(&mut self, frames: &[&str]) -> Result<u32, InternError> {
        if frames.is_empty() {
            return Err(InternError::EmptyStack);
        }
        let Some(ids) = frames
            .iter()
            .map(|frame| self.intern_frame(frame))
            .collect::<Option<Box<[u32]>>>()
        else {
            return Ok(OVERFLOW_SITE);
        };
        Ok(self.intern_stack(ids).unwrap_or(OVERFLOW_SITE))
    }

    /// The site of a stack: the frame id of its top frame (None for 0 and
    /// unknown ids). Stacks with one site are grouped under it in reports.
    pub fn site_of(&self, stack: u32) -> Option<u32> {
        if stack == NO_SITE {
            return None;
        }
        self.stacks.get(stack as usize)?.first().copied()
    }

    /// The site's text, `fn (file:line:col)`, of a stack id.
    pub fn site_text(&self, stack: u32) -> Option<&str> {
        self.site_of(stack)
            .and_then(|frame| self.frames.get(frame as usize))
            .map(|s| &**s)
    }

    /// The frames of a stack, innermost first (empty for unknown ids).
    pub fn site_stack(&self, stack: u32) -> Vec<&str> {
        match self.stacks.get(stack as usize) {
            Some(ids) => ids
                .iter()
                .map(|&frame| &*self.frames[frame as usize])
                .collect(),
            None => Vec::new(),
        }
    }

    #[cfg(test)]
    pub fn distinct_frames(&self) -> usize {
        self.frames.len()
    }

    #[cfg(test)]
    pub fn distinct_stacks(&self) -> usize {
        self.stacks.len()
    }

    fn intern_frame(&mut self, frame: &str) -> Option<u32> {
        if let Some(&id) = self.frame_ids.get(frame) {
            return Some(id);
        }
        if self.frames.len() >= MAX_ENTRIES {
            return None;
        }
        let id = self.frames.len() as u32;
        self.frames.push(frame.into());
        self.frame_ids.insert(frame.into(), id);
        Some(id)
    }

    fn intern_stack(&mut self, ids: Box<[u32]>) -> Option<u32> {
        if let Some(&id) = self.stack_ids.get(&ids) {
            return Some(id);
        }
        if self.stacks.len() >= MAX_ENTRIES {
            return None;
        }
        let id = self.stacks.len() as u32;
        self.stacks.push(ids.clone());
        self.stack_ids.insert(ids, id);
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stack_has_its_id_and_stacks_share_their_site() {
        let mut interner = Interner::default();
        let a = interner.intern(&["f (a.js:1:1)", "g (b.js:2:2)"]).unwrap();
        let same = interner.intern(&["f (a.js:1:1)", "g (b.js:2:2)"]).unwrap();
        let other_caller = interner.intern(&["f (a.js:1:1)", "h (c.js:3:3)"]).unwrap();
        let other = interner.intern(&["g (b.js:2:2)"]).unwrap();
        assert_eq!(a, same);
        assert_ne!(a, other_caller);
        assert_eq!(interner.site_of(a), interner.site_of(other_caller));
        assert_ne!(interner.site_of(a), interner.site_of(other));
        assert!(a > OVERFLOW_SITE);
        assert_eq!(interner.site_text(other_caller), Some("f (a.js:1:1)"));
        assert_eq!(interner.site_stack(a), vec!["f (a.js:1:1)", "g (b.js:2:2)"]);
        assert_eq!(
            interner.site_stack(other_caller),
            vec!["f (a.js:1:1)", "h (c.js:3:3)"]
        );
        assert_eq!(interner.site_stack(other), vec!["g (b.js:2:2)"]);
        assert_eq!(interner.distinct_stacks(), 2 + 3);
        assert_eq!(interner.distinct_frames(), 2 + 3);
        assert_eq!(interner.site_text(OVERFLOW_SITE), Some(OVERFLOW_TEXT));
    }

    #[test]
    fn empty_stack_is_an_error_and_unknown_sites_are_none() {
        let mut interner = Interner::default();
        assert_eq!(interner.intern(&[]), Err(InternError::EmptyStack));
        assert_eq!(interner.site_text(NO_SITE), None);
        assert_eq!(interner.site_text(12345), None);
        assert!(interner.site_stack(12345).is_empty());
    }
}

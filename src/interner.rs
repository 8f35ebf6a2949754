//! Call-site interning, as Linux's stackdepot does it: every distinct frame
//! string and every distinct stack is stored once and named by a small id, so
//! an entry carries a `u32` instead of a string.
//!
//! A *site* is the first frame outside handle-ledger (`fn (file:line:col)`);
//! its id is the id of that frame string, and the first stack seen through it
//! is kept as its representative stack. Site id 0 means "not recorded".

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
    /// For each frame id used as a site: its representative stack id.
    site_stack: HashMap<u32, u32>,
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
            site_stack: HashMap::new(),
        };
        // Ids 0 and 1 are reserved: "no site" and "too many sites".
        interner.frames.push("".into());
        interner.frames.push(OVERFLOW_TEXT.into());
        interner
    }
}

impl Interner {
    /// Interns a stack (innermost frame first) and returns its site id.
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
        let site = ids[0];
        let Some(stack) = self.intern_stack(ids) else {
            return Ok(OVERFLOW_SITE);
        };
        self.site_stack.entry(site).or_insert(stack);
        Ok(site)
    }

    /// The site's text, `fn (file:line:col)`.
    pub fn site_text(&self, site: u32) -> Option<&str> {
        if site == NO_SITE {
            return None;
        }
        self.frames.get(site as usize).map(|s| &**s)
    }

    /// The representative stack of a site, innermost frame first.
    pub fn site_stack(&self, site: u32) -> Vec<&str> {
        match self.site_stack.get(&site) {
            Some(&stack) => self.stacks[stack as usize]
                .iter()
                .map(|&frame| &*self.frames[frame as usize])
                .collect(),
            None => self.site_text(site).into_iter().collect(),
        }
    }

    pub fn distinct_frames(&self) -> usize {
        self.frames.len()
    }

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
    fn same_site_same_id_and_first_stack_kept() {
        let mut interner = Interner::default();
        let a = interner.intern(&["f (a.js:1:1)", "g (b.js:2:2)"]).unwrap();
        let again = interner.intern(&["f (a.js:1:1)", "h (c.js:3:3)"]).unwrap();
        let other = interner.intern(&["g (b.js:2:2)"]).unwrap();
        assert_eq!(a, again);
        assert_ne!(a, other);
        assert!(a > OVERFLOW_SITE);
        assert_eq!(interner.site_text(a), Some("f (a.js:1:1)"));
        assert_eq!(interner.site_stack(a), vec!["f (a.js:1:1)", "g (b.js:2:2)"]);
        assert_eq!(interner.site_stack(other), vec!["g (b.js:2:2)"]);
        assert_eq!(interner.distinct_stacks(), 3);
        assert_eq!(interner.distinct_frames(), 2 + 3);
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

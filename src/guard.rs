//! No panic crosses into JavaScript: every native entry point runs inside
//! [`guarded`], which turns a panic into an `Error` whose message carries the
//! panic text and the native backtrace (so a bug report names the Rust line).

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARDED.with(|g| *g.borrow()) {
                let trace = backtrace::Backtrace::new();
                let text = format!("{info}\nnative backtrace:\n{trace:?}");
                LAST_PANIC.with(|last| *last.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

thread_local! {
    static GUARDED: RefCell<bool> = const { RefCell::new(false) };
}

/// Runs `f`; a panic becomes `Err("handle-ledger internal error: ...")`.
pub fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    install_hook();
    let outer = GUARDED.with(|g| g.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| *g.borrow_mut() = outer);
    result.unwrap_or_else(|_| {
        let text = LAST_PANIC
            .with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| "panic".to_owned());
        Err(format!("handle-ledger internal error: {text}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_a_backtrace() {
        let result: Result<(), String> = guarded(|| panic!("boom {}", 42));
        let message = result.unwrap_err();
        assert!(message.starts_with("handle-ledger internal error:"));
        assert!(message.contains("boom 42"));
        assert!(message.contains("native backtrace"));
        assert_eq!(guarded(|| Ok(5)), Ok(5));
        assert_eq!(guarded::<()>(|| Err("plain".into())), Err("plain".into()));
    }
}

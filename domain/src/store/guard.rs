//! Containment of the storage library: redb errors told apart, and any panic inside a redb
//! call turned into [`StoreError::Corrupt`] without being printed (see the store docs).

use super::*;

/// A redb error, with corruption told apart from other failures.
pub(super) fn db_err(e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::Corrupted(m) => StoreError::Corrupt(m),
        e @ (redb::Error::TableTypeMismatch { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_)
        | redb::Error::TypeDefinitionChanged { .. }
        | redb::Error::TableDoesNotExist(_)
        | redb::Error::UpgradeRequired(_)) => StoreError::Corrupt(e.to_string()),
        e => StoreError::Db(e),
    }
}

thread_local! {
    /// How many contained sections this thread is in (their panics are not printed).
    static CONTAINED: Cell<u32> = const { Cell::new(0) };
    /// The message of the last panic caught in a contained section on this thread.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) the panic hook that keeps contained panics quiet (see the module docs).
pub(super) fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CONTAINED.with(Cell::get) > 0 {
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let what = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                let text: String = format!("{what}{at}").chars().take(300).collect();
                CAUGHT.with(|c| *c.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic inside it into [`StoreError::Corrupt`] (`Err(Err(..))`: the
/// caller must abandon whatever redb handle `f` used).
pub(super) fn contain<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, StoreError> {
    install_quiet_hook();
    CONTAINED.with(|c| c.set(c.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(c.get().saturating_sub(1)));
    result.map_err(|_| {
        let detail = CAUGHT
            .with(|c| c.borrow_mut().take())
            .unwrap_or_else(|| "a panic".to_owned());
        StoreError::Corrupt(format!(
            "{what}: the storage library failed on the data ({detail})"
        ))
    })
}

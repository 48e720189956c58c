//! Resource limits: the seed's instruction, stack-depth and memory limits.
//!
//! The instruction limit is enforced through gas (every instruction costs at least 1); the
//! others are checked by the verifier where they are static and by both engines at run time.

/// Configurable resource limits. [`Limits::default`] gives sane values for validators.
///
/// ```
/// let limits = coopvm_core::Limits { stack: 64, ..Default::default() };
/// assert_eq!(limits.call_depth, coopvm_core::Limits::default().call_depth);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Maximum number of values on the value stack.
    pub stack: u32,
    /// Maximum number of nested `call`s in progress.
    pub call_depth: u32,
    /// Maximum number of keys in a contract's memory.
    pub memory_keys: u32,
    /// Maximum number of keys in a run's transient memory (`tstore`/`tload`), counted
    /// separately from [`Limits::memory_keys`].
    pub transient_keys: u32,
    /// Maximum number of instructions in a contract.
    pub code_len: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            stack: 1024,
            call_depth: 256,
            memory_keys: 4096,
            transient_keys: 1024,
            code_len: 1 << 16,
        }
    }
}

impl Limits {
    /// The largest limits the verifier accepts: beyond these an engine's preallocated stack
    /// or call stack would be unreasonably large for one run (a stack of 2^20 values is 8 MiB).
    pub const MAX: Limits = Limits {
        stack: 1 << 20,
        call_depth: 1 << 20,
        memory_keys: 1 << 24,
        transient_keys: 1 << 24,
        code_len: 1 << 22,
    };

    /// Checks every limit against [`Limits::MAX`] (and that the stack holds a value).
    ///
    /// ```
    /// use coopvm_core::Limits;
    /// assert!(Limits::default().check().is_ok());
    /// assert!(Limits { stack: u32::MAX, ..Limits::default() }.check().is_err());
    /// ```
    pub fn check(&self) -> Result<(), String> {
        let max = Limits::MAX;
        for (name, value, limit) in [
            ("stack", self.stack, max.stack),
            ("call depth", self.call_depth, max.call_depth),
            ("memory keys", self.memory_keys, max.memory_keys),
            ("transient keys", self.transient_keys, max.transient_keys),
            ("code length", self.code_len, max.code_len),
        ] {
            if value > limit {
                return Err(format!(
                    "the {name} limit {value} is above the maximum of {limit}"
                ));
            }
        }
        Ok(())
    }
}

/// The most static keys a contract's key table may hold (`Program::keys`): every engine gives
/// each static key a memory cell for every run, so a larger table is refused by the verifier
/// whatever the limits (a table this size already takes 16 MiB of cells a run).
pub const MAX_STATIC_KEYS: u32 = 1 << 20;

/// Default gas limit for a run when the caller names none.
pub const DEFAULT_GAS_LIMIT: u64 = 10_000_000;

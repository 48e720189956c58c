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
    /// Maximum number of instructions in a contract.
    pub code_len: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            stack: 1024,
            call_depth: 256,
            memory_keys: 4096,
            code_len: 1 << 16,
        }
    }
}

/// Default gas limit for a run when the caller names none.
pub const DEFAULT_GAS_LIMIT: u64 = 10_000_000;

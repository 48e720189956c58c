//! Run-time errors: one small kind enum shared by both engines and the host, plus context.

use std::fmt;

macro_rules! error_kinds {
    ($( $variant:ident = $code:literal, $name:literal, $doc:literal; )*) => {
        /// What went wrong in a run. Both engines report exactly these kinds, so differential
        /// tests compare like with like. The snake_case names are what users see
        /// (`run --json`'s `error.kind`).
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorKind {
            $(
                #[doc = $doc]
                $variant = $code,
            )*
        }

        impl ErrorKind {
            /// Every kind, in code order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant,)*];

            /// The snake_case name users see.
            pub const fn name(self) -> &'static str {
                match self { $(ErrorKind::$variant => $name,)* }
            }

            /// A one-line description.
            pub const fn doc(self) -> &'static str {
                match self { $(ErrorKind::$variant => $doc,)* }
            }

            /// The kind with code `code`, if any.
            pub const fn from_code(code: u8) -> Option<ErrorKind> {
                match code { $($code => Some(ErrorKind::$variant),)* _ => None }
            }

            /// The kind named `name`, if any.
            pub fn from_name(name: &str) -> Option<ErrorKind> {
                match name { $($name => Some(ErrorKind::$variant),)* _ => None }
            }
        }
    };
}

error_kinds! {
    StackUnderflow = 1, "stack_underflow", "An instruction needed more values than the stack holds.";
    StackOverflow = 2, "stack_overflow", "The value stack would grow beyond its limit.";
    InvalidOpcode = 3, "invalid_opcode", "The code holds a byte that is no opcode.";
    PermissionDenied = 4, "permission_denied", "The caller lacks a permission the contract or operation requires.";
    InsufficientReputation = 5, "insufficient_reputation", "The caller's reputation is below what the contract requires.";
    DivisionByZero = 6, "division_by_zero", "`div` or `mod` by zero.";
    ArithmeticOverflow = 7, "arithmetic_overflow", "A result does not fit in a signed 64-bit integer.";
    InvalidMemoryAccess = 8, "invalid_memory_access", "`load` of a key that holds no value.";
    OutOfGas = 9, "out_of_gas", "The gas limit does not cover the next basic block or host charge.";
    CallDepthExceeded = 10, "call_depth_exceeded", "`call` nested deeper than the call depth limit.";
    MemoryLimitExceeded = 11, "memory_limit_exceeded", "A `store` would create more keys than the memory limit allows.";
    InvalidStringHandle = 12, "invalid_string_handle", "A value used as a string handle names no string.";
    HostUnavailable = 13, "host_unavailable", "The embedding supplied no host for a domain operation.";
    NotFound = 14, "not_found", "A cooperative, federation, proposal, DID or contract does not exist.";
    AlreadyExists = 15, "already_exists", "Something with that name already exists.";
    NotMember = 16, "not_member", "The caller or account is not a member of the cooperative.";
    AlreadyMember = 17, "already_member", "The account is already a member.";
    InsufficientResources = 18, "insufficient_resources", "A pool or balance would go below zero.";
    InvalidArgument = 19, "invalid_argument", "An operand is out of its allowed range, or a run was given another number of inputs than the contract's `.params`.";
    DoubleVote = 20, "double_vote", "The voter (or their delegate) has already voted.";
    DelegationCycle = 21, "delegation_cycle", "The delegation would create a cycle.";
    QuorumNotMet = 22, "quorum_not_met", "The proposal has not reached its quorum.";
    DeadlineNotReached = 23, "deadline_not_reached", "The proposal's deadline has not passed yet.";
    ProposalClosed = 24, "proposal_closed", "The proposal was already executed or its voting is over.";
    InvalidDid = 25, "invalid_did", "The text is not a valid DID.";
    NotController = 26, "not_controller", "Only the DID's controller may change its document.";
    MissingDependency = 27, "missing_dependency", "A contract this one depends on is not deployed.";
    HostFailure = 28, "host_failure", "The host's storage failed.";
    EngineFailure = 29, "engine_failure", "The engine failed internally (a coopvm bug, not the contract's fault); the run is rolled back.";
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A run-time error: its kind, the instruction index where it happened (if any) and a
/// message for people.
///
/// ```
/// use coopvm_core::error::{ErrorKind, VmError};
/// let e = VmError::new(ErrorKind::DivisionByZero, "division by zero").at(3);
/// assert_eq!(e.to_string(), "division_by_zero at instruction 3: division by zero");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}{}: {message}", .pc.map(|p| format!(" at instruction {p}")).unwrap_or_default())]
pub struct VmError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The instruction index, when the error comes from an instruction.
    pub pc: Option<u32>,
    /// A human explanation.
    pub message: String,
}

impl VmError {
    /// An error without a location.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        VmError {
            kind,
            pc: None,
            message: message.into(),
        }
    }

    /// The same error, located at instruction `pc` (an existing location is kept).
    pub fn at(mut self, pc: u32) -> Self {
        self.pc.get_or_insert(pc);
        self
    }

    /// `div` or `mod` of `a` by zero.
    pub fn division_by_zero(a: i64) -> Self {
        VmError::new(ErrorKind::DivisionByZero, format!("{a} divided by zero"))
    }

    /// A binary operation on `a` and `b` whose result does not fit in an `i64`.
    pub fn overflow(a: i64, b: i64) -> Self {
        VmError::new(
            ErrorKind::ArithmeticOverflow,
            format!("{a} and {b} overflow a 64-bit integer"),
        )
    }

    /// `neg` of `a` (only `i64::MIN`) overflows.
    pub fn neg_overflow(a: i64) -> Self {
        VmError::new(ErrorKind::ArithmeticOverflow, format!("-({a}) overflows"))
    }

    /// A `call` beyond the call depth `limit`.
    pub fn call_depth(limit: u32) -> Self {
        VmError::new(
            ErrorKind::CallDepthExceeded,
            format!("call depth limit of {limit} reached"),
        )
    }

    /// A `call` whose callee may need `max_height` values above `base`, beyond the stack
    /// `limit`.
    pub fn stack_room(
        max_height: impl std::fmt::Display,
        base: impl std::fmt::Display,
        limit: impl std::fmt::Display,
    ) -> Self {
        VmError::new(
            ErrorKind::StackOverflow,
            format!("the call needs room for {max_height} values above {base}; the stack limit is {limit}"),
        )
    }

    /// The error of running out of gas.
    pub fn out_of_gas(limit: u64) -> Self {
        VmError::new(ErrorKind::OutOfGas, format!("out of gas (limit {limit})"))
    }
}

/// Result alias for run-time operations.
pub type VmResult<T> = Result<T, VmError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for &k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_code(k as u8), Some(k));
            assert_eq!(ErrorKind::from_name(k.name()), Some(k));
            assert!(k.name().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        assert_eq!(ErrorKind::from_code(0), None);
        assert_eq!(ErrorKind::from_name("nope"), None);
    }

    #[test]
    fn engine_failures_are_not_host_failures() {
        let k = ErrorKind::EngineFailure;
        assert_eq!((k.name(), k as u8), ("engine_failure", 29));
        assert_eq!(ErrorKind::from_name("engine_failure"), Some(k));
        assert_ne!(k, ErrorKind::HostFailure);
        assert!(k.doc().contains("engine"));
        assert!(!ErrorKind::HostFailure.doc().contains("engine"));
    }

    #[test]
    fn location_is_kept() {
        let e = VmError::new(ErrorKind::OutOfGas, "x").at(1).at(2);
        assert_eq!(e.pc, Some(1));
        assert_eq!(
            VmError::new(ErrorKind::OutOfGas, "m").to_string(),
            "out_of_gas: m"
        );
    }
}

//! The execution context (the seed's `ExecutionContext`) and the checks made before a run.

use crate::error::{ErrorKind, VmError};
use crate::program::Contract;

/// Who runs a contract, where and when.
///
/// ```
/// use coopvm_core::ExecutionContext;
/// let ctx = ExecutionContext { caller_did: "did:key:alice".into(), reputation_score: 5, ..Default::default() };
/// assert_eq!(ctx.block_number, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExecutionContext {
    /// DID of the entity invoking the contract.
    pub caller_did: String,
    /// Identifier of the cooperative the call happens in.
    pub cooperative_id: String,
    /// Timestamp of the execution (seconds; supplied by the node, never read from a clock).
    pub timestamp: u64,
    /// Block number.
    pub block_number: u64,
    /// The caller's reputation score.
    pub reputation_score: i64,
    /// The caller's permissions.
    pub permissions: Vec<String>,
}

impl ExecutionContext {
    /// Whether the caller holds `permission`.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }
}

/// The seed's checks before running: the caller holds every permission the contract requires
/// (`permission_denied`) and has at least its required reputation (`insufficient_reputation`).
/// Neither consumes gas.
///
/// ```
/// use coopvm_core::{context::preflight, Contract, ExecutionContext};
/// let c = Contract { required_reputation: 10, ..Default::default() };
/// let ctx = ExecutionContext { reputation_score: 3, ..Default::default() };
/// assert!(preflight(&c, &ctx).is_err());
/// ```
#[inline]
pub fn preflight(contract: &Contract, ctx: &ExecutionContext) -> Result<(), VmError> {
    // Admitted (the common case, decided in line: most contracts require no permission).
    if contract.permissions.iter().all(|p| ctx.has_permission(p))
        && ctx.reputation_score >= contract.required_reputation
    {
        return Ok(());
    }
    refuse(contract, ctx)
}

/// Why `preflight` refuses: the first permission missing, else the reputation.
#[cold]
#[inline(never)]
fn refuse(contract: &Contract, ctx: &ExecutionContext) -> Result<(), VmError> {
    if let Some(missing) = contract.permissions.iter().find(|p| !ctx.has_permission(p)) {
        return Err(VmError::new(
            ErrorKind::PermissionDenied,
            format!(
                "caller `{}` lacks permission `{missing}` required by contract `{}`",
                ctx.caller_did, contract.id
            ),
        ));
    }
    if ctx.reputation_score < contract.required_reputation {
        return Err(VmError::new(
            ErrorKind::InsufficientReputation,
            format!(
                "caller reputation {} is below the {} required by contract `{}`",
                ctx.reputation_score, contract.required_reputation, contract.id
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_permissions_then_reputation() {
        let c = Contract {
            permissions: vec!["vote".into(), "admin".into()],
            required_reputation: 5,
            ..Default::default()
        };
        let mut ctx = ExecutionContext {
            permissions: vec!["vote".into()],
            reputation_score: 0,
            ..Default::default()
        };
        assert_eq!(
            preflight(&c, &ctx).unwrap_err().kind,
            ErrorKind::PermissionDenied
        );
        ctx.permissions.push("admin".into());
        assert_eq!(
            preflight(&c, &ctx).unwrap_err().kind,
            ErrorKind::InsufficientReputation
        );
        ctx.reputation_score = 5;
        assert!(preflight(&c, &ctx).is_ok());
    }
}

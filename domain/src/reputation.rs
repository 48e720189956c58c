//! Reputation: bounded scores per DID, changed only by callers with the `reputation`
//! permission, never by the DID itself.

use super::{caller, fail, identity::check_did, Domain, PERM_REPUTATION};
use coopvm_core::error::{ErrorKind, VmResult};
use coopvm_core::{EventValue, HostCx};

/// Lowest reputation score.
pub const MIN_SCORE: i64 = -1000;
/// Highest reputation score.
pub const MAX_SCORE: i64 = 1000;
/// Largest change of a score by one `updatereputation` (either way).
pub const MAX_DELTA: i64 = 100;

impl Domain {
    /// `updatereputation [did, delta] -> []`: the score moves by `delta`, clamped to
    /// [`MIN_SCORE`]..=[`MAX_SCORE`].
    pub fn update_reputation(&mut self, cx: &mut HostCx, did: &str, delta: i64) -> VmResult<()> {
        if !cx.ctx.has_permission(PERM_REPUTATION) {
            return fail(
                ErrorKind::PermissionDenied,
                format!("changing a reputation needs the permission `{PERM_REPUTATION}`"),
            );
        }
        check_did(did)?;
        let by = caller(cx)?;
        if by == did {
            return fail(
                ErrorKind::PermissionDenied,
                format!("`{did}` cannot change its own reputation"),
            );
        }
        if !(-MAX_DELTA..=MAX_DELTA).contains(&delta) {
            return fail(
                ErrorKind::InvalidArgument,
                format!("a reputation change must be within ±{MAX_DELTA}, not {delta}"),
            );
        }
        let old = self.reputations.get(&did.to_owned()).copied().unwrap_or(0);
        let score = (old + delta).clamp(MIN_SCORE, MAX_SCORE);
        self.reputations.insert(did.to_owned(), score);
        cx.emit(
            "ReputationUpdated",
            [
                ("did", EventValue::from(did)),
                ("delta", delta.into()),
                ("score", score.into()),
            ],
        );
        Ok(())
    }

    /// `getreputation [did] -> [score]` (0 for a DID never rated).
    pub fn get_reputation(&mut self, _cx: &mut HostCx, did: &str) -> VmResult<i64> {
        check_did(did)?;
        Ok(self.reputations.get(&did.to_owned()).copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Harness, A::*};
    use super::*;
    use coopvm_core::Op;

    #[test]
    fn update_is_bounded_and_readable() {
        let mut h = Harness::new();
        h.ctx.permissions.push(PERM_REPUTATION.into());
        assert_eq!(h.op(Op::GetReputation, &[S("did:key:bob")]), Ok(0));
        h.op(Op::UpdateReputation, &[S("did:key:bob"), I(40)])
            .unwrap();
        assert_eq!(h.event_names(), ["ReputationUpdated"]);
        h.op(Op::UpdateReputation, &[S("did:key:bob"), I(-50)])
            .unwrap();
        assert_eq!(h.op(Op::GetReputation, &[S("did:key:bob")]), Ok(-10));
        for _ in 0..15 {
            h.op(Op::UpdateReputation, &[S("did:key:bob"), I(MAX_DELTA)])
                .unwrap();
        }
        assert_eq!(h.host.reputation("did:key:bob"), MAX_SCORE);
        for _ in 0..25 {
            h.op(Op::UpdateReputation, &[S("did:key:bob"), I(-MAX_DELTA)])
                .unwrap();
        }
        assert_eq!(h.host.reputation("did:key:bob"), MIN_SCORE);
    }

    #[test]
    fn refusals() {
        let mut h = Harness::new();
        assert_eq!(
            h.refuse(Op::UpdateReputation, &[S("did:key:bob"), I(1)]),
            ErrorKind::PermissionDenied
        );
        h.ctx.permissions.push(PERM_REPUTATION.into());
        assert_eq!(
            h.refuse(Op::UpdateReputation, &[S("did:key:alice"), I(1)]),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            h.refuse(Op::UpdateReputation, &[S("did:key:bob"), I(MAX_DELTA + 1)]),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            h.refuse(Op::UpdateReputation, &[S("bob"), I(1)]),
            ErrorKind::InvalidDid
        );
        assert_eq!(
            h.refuse(Op::GetReputation, &[S("did:x")]),
            ErrorKind::InvalidDid
        );
        assert_eq!(h.host.reputation("did:key:bob"), 0);
    }
}

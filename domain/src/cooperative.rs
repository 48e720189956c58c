//! Cooperatives: creation with a fixed resource supply, membership, and the movement of
//! resources from the pool to members and between members.
//!
//! Conservation: a cooperative's supply is minted once, at creation, into its pool; after
//! that no operation creates or destroys units, so `pool + sum(member balances) == supply`
//! holds at every commit (a leaving member's balance returns to the pool).

use super::{caller, check_name, fail, key, Cooperative, Domain, Member, MAX_POOL, PERM_TREASURY};
use coopvm_core::error::{ErrorKind, VmResult};
use coopvm_core::{EventValue, HostCx};

impl Domain {
    pub(crate) fn coop(&self, name: &str) -> VmResult<&Cooperative> {
        match self.cooperatives.get(&name.to_owned()) {
            Some(c) => Ok(c),
            None => fail(
                ErrorKind::NotFound,
                format!("no cooperative named `{name}`"),
            ),
        }
    }

    pub(crate) fn require_member(&self, coop: &str, did: &str) -> VmResult<&Member> {
        match self.members.get(&key(coop, did)) {
            Some(m) => Ok(m),
            None => fail(
                ErrorKind::NotMember,
                format!("`{did}` is not a member of `{coop}`"),
            ),
        }
    }

    /// `getbalance [coop, member] -> [units]`: refuses like the writing operations
    /// (`not_found`, then `not_member`).
    pub fn get_balance(&self, coop: &str, member: &str) -> VmResult<i64> {
        self.coop(coop)?;
        Ok(self.require_member(coop, member)?.balance)
    }

    /// `getpool [coop] -> [units]`.
    pub fn get_pool(&self, coop: &str) -> VmResult<i64> {
        Ok(self.coop(coop)?.pool)
    }

    /// `ismember [coop, did] -> [0|1]`: `not_found` for a missing cooperative; any text
    /// may be asked about (a non-DID is simply not a member).
    pub fn is_member(&self, coop: &str, did: &str) -> VmResult<bool> {
        self.coop(coop)?;
        Ok(self.members.contains(&key(coop, did)))
    }

    /// `createcooperative [name, pool] -> []`.
    pub fn create_cooperative(&mut self, cx: &mut HostCx, name: &str, pool: i64) -> VmResult<()> {
        check_name("cooperative name", name)?;
        let creator = caller(cx)?.to_owned();
        if !(0..=MAX_POOL).contains(&pool) {
            return fail(
                ErrorKind::InvalidArgument,
                format!("a cooperative's initial pool must be 0 to {MAX_POOL}, not {pool}"),
            );
        }
        if self.cooperatives.contains(&name.to_owned()) {
            return fail(
                ErrorKind::AlreadyExists,
                format!("cooperative `{name}` already exists"),
            );
        }
        let block = cx.ctx.block_number;
        self.cooperatives.insert(
            name.to_owned(),
            Cooperative {
                creator: creator.clone(),
                supply: pool,
                pool,
                members: 1,
                created_block: block,
            },
        );
        self.members.insert(
            key(name, &creator),
            Member {
                balance: 0,
                joined_block: block,
            },
        );
        cx.emit(
            "CooperativeCreated",
            [
                ("cooperative", EventValue::from(name)),
                ("pool", pool.into()),
                ("creator", creator.into()),
            ],
        );
        Ok(())
    }

    /// `joincooperative [coop] -> []`.
    pub fn join_cooperative(&mut self, cx: &mut HostCx, coop: &str) -> VmResult<()> {
        let did = caller(cx)?.to_owned();
        self.coop(coop)?;
        if self.members.contains(&key(coop, &did)) {
            return fail(
                ErrorKind::AlreadyMember,
                format!("`{did}` is already a member of `{coop}`"),
            );
        }
        self.members.insert(
            key(coop, &did),
            Member {
                balance: 0,
                joined_block: cx.ctx.block_number,
            },
        );
        self.cooperatives
            .update(&coop.to_owned(), |c| c.members += 1);
        cx.emit(
            "MemberJoined",
            [
                ("cooperative", EventValue::from(coop)),
                ("member", did.into()),
            ],
        );
        Ok(())
    }

    /// `leavecooperative [coop] -> []`: the balance returns to the pool; delegations from
    /// and to the leaver end.
    pub fn leave_cooperative(&mut self, cx: &mut HostCx, coop: &str) -> VmResult<()> {
        let did = caller(cx)?.to_owned();
        self.coop(coop)?;
        let balance = self.require_member(coop, &did)?.balance;
        self.members.remove(&key(coop, &did));
        self.cooperatives.update(&coop.to_owned(), |c| {
            c.members -= 1;
            c.pool += balance;
        });
        // Delegations of the leaver, and to the leaver, end.
        let mut ended = Vec::new();
        let mut scanned = 0u64;
        for ((c, from), to) in self.delegations.iter_from(&key(coop, "")) {
            if c != coop {
                break;
            }
            scanned += 1;
            if *from == did || *to == did {
                ended.push(key(c, from));
            }
        }
        for k in &ended {
            self.delegations.remove(k);
        }
        cx.charge(scanned);
        cx.emit(
            "MemberLeft",
            [
                ("cooperative", EventValue::from(coop)),
                ("member", did.into()),
                ("returned", balance.into()),
            ],
        );
        Ok(())
    }

    /// `allocateresource [coop, member, amount] -> []`: pool -> member, by the cooperative's
    /// creator or a caller with the `treasury` permission.
    pub fn allocate_resource(
        &mut self,
        cx: &mut HostCx,
        coop: &str,
        member: &str,
        amount: i64,
    ) -> VmResult<()> {
        let by = caller(cx)?.to_owned();
        let c = self.coop(coop)?;
        if c.creator != by && !cx.ctx.has_permission(PERM_TREASURY) {
            return fail(
                ErrorKind::PermissionDenied,
                format!(
                    "only the creator of `{coop}` or a caller with permission `{PERM_TREASURY}` may allocate its resources"
                ),
            );
        }
        if amount <= 0 {
            return fail(
                ErrorKind::InvalidArgument,
                format!("an allocation must be positive, not {amount}"),
            );
        }
        self.require_member(coop, member)?;
        let pool = c.pool;
        if pool < amount {
            return fail(
                ErrorKind::InsufficientResources,
                format!("the pool of `{coop}` holds {pool}, less than {amount}"),
            );
        }
        self.cooperatives
            .update(&coop.to_owned(), |c| c.pool -= amount);
        self.members
            .update(&key(coop, member), |m| m.balance += amount);
        cx.emit(
            "ResourceAllocated",
            [
                ("cooperative", EventValue::from(coop)),
                ("member", member.into()),
                ("amount", amount.into()),
                ("pool", (pool - amount).into()),
            ],
        );
        Ok(())
    }

    /// `transferresource [coop, to, amount] -> []`: caller -> `to`, both members.
    pub fn transfer_resource(
        &mut self,
        cx: &mut HostCx,
        coop: &str,
        to: &str,
        amount: i64,
    ) -> VmResult<()> {
        let from = caller(cx)?.to_owned();
        self.coop(coop)?;
        let balance = self.require_member(coop, &from)?.balance;
        self.require_member(coop, to)?;
        if amount <= 0 {
            return fail(
                ErrorKind::InvalidArgument,
                format!("a transfer must be positive, not {amount}"),
            );
        }
        if from == to {
            return fail(
                ErrorKind::InvalidArgument,
                format!("`{from}` cannot transfer to itself"),
            );
        }
        if balance < amount {
            return fail(
                ErrorKind::InsufficientResources,
                format!("`{from}` holds {balance} in `{coop}`, less than {amount}"),
            );
        }
        self.members
            .update(&key(coop, &from), |m| m.balance -= amount);
        // Cannot overflow: the recipient's balance is at most supply - amount.
        self.members.update(&key(coop, to), |m| m.balance += amount);
        cx.emit(
            "ResourceTransferred",
            [
                ("cooperative", EventValue::from(coop)),
                ("from", from.into()),
                ("to", to.into()),
                ("amount", amount.into()),
            ],
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Harness, A::*};
    use super::*;
    use coopvm_core::Op;

    const ALICE: &str = "did:key:alice";
    const BOB: &str = "did:key:bob";
    const CAROL: &str = "did:key:carol";

    fn world() -> Harness {
        let mut h = Harness::new();
        h.op(Op::CreateCooperative, &[S("makers"), I(100)]).unwrap();
        h.caller(BOB)
            .op(Op::JoinCooperative, &[S("makers")])
            .unwrap();
        h.caller(ALICE);
        h
    }

    fn conserved(h: &Harness, coop: &str) {
        let c = h.host.cooperative(coop).unwrap();
        let held: i64 = h
            .host
            .domain
            .members
            .iter()
            .filter(|((c, _), _)| c == coop)
            .map(|(_, m)| m.balance)
            .sum();
        assert_eq!(c.pool + held, c.supply);
    }

    #[test]
    fn create_join_allocate_transfer_leave() {
        let mut h = Harness::new();
        h.op(Op::CreateCooperative, &[S("makers"), I(100)]).unwrap();
        assert_eq!(h.event_names(), ["CooperativeCreated"]);
        assert_eq!(h.events[0].fields["pool"], EventValue::Int(100));
        let c = h.host.cooperative("makers").unwrap();
        assert_eq!((c.pool, c.supply, c.members), (100, 100, 1));
        assert!(h.host.member("makers", ALICE).is_some());

        h.caller(BOB)
            .op(Op::JoinCooperative, &[S("makers")])
            .unwrap();
        assert_eq!(h.event_names(), ["MemberJoined"]);
        assert_eq!(h.host.cooperative("makers").unwrap().members, 2);

        h.caller(ALICE)
            .op(Op::AllocateResource, &[S("makers"), S(BOB), I(30)])
            .unwrap();
        assert_eq!(h.event_names(), ["ResourceAllocated"]);
        assert_eq!(h.host.cooperative("makers").unwrap().pool, 70);
        assert_eq!(h.host.member("makers", BOB).unwrap().balance, 30);

        h.caller(BOB)
            .op(Op::TransferResource, &[S("makers"), S(ALICE), I(12)])
            .unwrap();
        assert_eq!(h.event_names(), ["ResourceTransferred"]);
        assert_eq!(h.host.member("makers", BOB).unwrap().balance, 18);
        assert_eq!(h.host.member("makers", ALICE).unwrap().balance, 12);
        conserved(&h, "makers");

        h.caller(BOB)
            .op(Op::LeaveCooperative, &[S("makers")])
            .unwrap();
        assert_eq!(h.event_names(), ["MemberLeft"]);
        assert_eq!(h.events[0].fields["returned"], EventValue::Int(18));
        assert!(h.host.member("makers", BOB).is_none());
        let c = h.host.cooperative("makers").unwrap();
        assert_eq!((c.pool, c.members), (88, 1));
        conserved(&h, "makers");
    }

    #[test]
    fn reads() {
        let mut h = world();
        h.op(Op::AllocateResource, &[S("makers"), S(BOB), I(30)])
            .unwrap();
        assert_eq!(h.op(Op::GetBalance, &[S("makers"), S(BOB)]), Ok(30));
        assert_eq!(h.op(Op::GetBalance, &[S("makers"), S(ALICE)]), Ok(0));
        assert_eq!(h.op(Op::GetPool, &[S("makers")]), Ok(70));
        assert_eq!(h.op(Op::IsMember, &[S("makers"), S(BOB)]), Ok(1));
        assert_eq!(h.op(Op::IsMember, &[S("makers"), S(CAROL)]), Ok(0));
        // Any text may be asked about; a non-DID is simply not a member.
        assert_eq!(h.op(Op::IsMember, &[S("makers"), S("not a did")]), Ok(0));
        // Reads change nothing and emit nothing; their gas is static.
        assert!(h.events.is_empty());
        assert_eq!(h.gas, 0);
        // The same refusals as the writing operations.
        assert_eq!(
            h.refuse(Op::GetBalance, &[S("nope"), S(BOB)]),
            ErrorKind::NotFound
        );
        assert_eq!(
            h.refuse(Op::GetBalance, &[S("makers"), S(CAROL)]),
            ErrorKind::NotMember
        );
        assert_eq!(h.refuse(Op::GetPool, &[S("nope")]), ErrorKind::NotFound);
        assert_eq!(
            h.refuse(Op::IsMember, &[S("nope"), S(BOB)]),
            ErrorKind::NotFound
        );
        for op in [Op::GetBalance, Op::GetPool, Op::IsMember] {
            assert_eq!(op.info().gas, 20, "{op:?}");
        }
    }

    #[test]
    fn create_refusals() {
        let mut h = world();
        assert_eq!(
            h.refuse(Op::CreateCooperative, &[S("makers"), I(1)]),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            h.refuse(Op::CreateCooperative, &[S("x"), I(-1)]),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            h.refuse(Op::CreateCooperative, &[S("x"), I(MAX_POOL + 1)]),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            h.refuse(Op::CreateCooperative, &[S(""), I(1)]),
            ErrorKind::InvalidArgument
        );
        let long = "n".repeat(super::super::MAX_NAME_LEN + 1);
        assert_eq!(
            h.refuse(Op::CreateCooperative, &[S(&long), I(1)]),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            h.caller("not a did")
                .refuse(Op::CreateCooperative, &[S("y"), I(1)]),
            ErrorKind::InvalidDid
        );
    }

    #[test]
    fn membership_refusals() {
        let mut h = world();
        assert_eq!(
            h.refuse(Op::JoinCooperative, &[S("nope")]),
            ErrorKind::NotFound
        );
        assert_eq!(
            h.caller(BOB).refuse(Op::JoinCooperative, &[S("makers")]),
            ErrorKind::AlreadyMember
        );
        assert_eq!(
            h.caller(CAROL).refuse(Op::LeaveCooperative, &[S("makers")]),
            ErrorKind::NotMember
        );
        assert_eq!(
            h.refuse(Op::LeaveCooperative, &[S("nope")]),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn allocation_refusals() {
        let mut h = world();
        // Bob is a member but not the creator and holds no `treasury` permission.
        assert_eq!(
            h.caller(BOB)
                .refuse(Op::AllocateResource, &[S("makers"), S(BOB), I(1)]),
            ErrorKind::PermissionDenied
        );
        // With the permission he may.
        h.ctx.permissions.push(PERM_TREASURY.into());
        h.op(Op::AllocateResource, &[S("makers"), S(BOB), I(1)])
            .unwrap();
        h.ctx.permissions.clear();
        h.caller(ALICE);
        assert_eq!(
            h.refuse(Op::AllocateResource, &[S("makers"), S(CAROL), I(1)]),
            ErrorKind::NotMember
        );
        assert_eq!(
            h.refuse(Op::AllocateResource, &[S("makers"), S(BOB), I(0)]),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            h.refuse(Op::AllocateResource, &[S("makers"), S(BOB), I(100)]),
            ErrorKind::InsufficientResources
        );
        assert_eq!(
            h.refuse(Op::AllocateResource, &[S("nope"), S(BOB), I(1)]),
            ErrorKind::NotFound
        );
        assert_eq!(h.host.cooperative("makers").unwrap().pool, 99);
        conserved(&h, "makers");
    }

    #[test]
    fn transfer_refusals() {
        let mut h = world();
        h.op(Op::AllocateResource, &[S("makers"), S(ALICE), I(10)])
            .unwrap();
        // Overdraft.
        assert_eq!(
            h.refuse(Op::TransferResource, &[S("makers"), S(BOB), I(11)]),
            ErrorKind::InsufficientResources
        );
        assert_eq!(
            h.refuse(Op::TransferResource, &[S("makers"), S(CAROL), I(1)]),
            ErrorKind::NotMember
        );
        assert_eq!(
            h.caller(CAROL)
                .refuse(Op::TransferResource, &[S("makers"), S(BOB), I(1)]),
            ErrorKind::NotMember
        );
        h.caller(ALICE);
        assert_eq!(
            h.refuse(Op::TransferResource, &[S("makers"), S(BOB), I(-5)]),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            h.refuse(Op::TransferResource, &[S("makers"), S(ALICE), I(1)]),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            h.refuse(Op::TransferResource, &[S("nope"), S(BOB), I(1)]),
            ErrorKind::NotFound
        );
        assert_eq!(h.host.member("makers", ALICE).unwrap().balance, 10);
        conserved(&h, "makers");
    }

    #[test]
    fn leaving_ends_delegations() {
        let mut h = world();
        h.caller(CAROL)
            .op(Op::JoinCooperative, &[S("makers")])
            .unwrap();
        h.op(Op::DelegateVotes, &[S("makers"), S(BOB)]).unwrap();
        h.caller(ALICE)
            .op(Op::DelegateVotes, &[S("makers"), S(CAROL)])
            .unwrap();
        assert_eq!(h.host.domain.delegations.len(), 2);
        h.caller(BOB)
            .op(Op::LeaveCooperative, &[S("makers")])
            .unwrap();
        // Carol's delegation to Bob ended; Alice's to Carol stays.
        assert_eq!(h.host.domain.delegations.len(), 1);
        assert_eq!(h.gas, 2);
    }
}

//! Federations of cooperatives. A member of a cooperative acts for it: creating a federation
//! with it as founder, or joining it to an existing federation.

use super::{caller, check_name, fail, key, Domain, Federation, FederationMember};
use coopvm_core::error::{ErrorKind, VmResult};
use coopvm_core::{EventValue, HostCx};

impl Domain {
    fn federation_named(&self, name: &str) -> VmResult<&Federation> {
        match self.federations.get(&name.to_owned()) {
            Some(f) => Ok(f),
            None => fail(ErrorKind::NotFound, format!("no federation named `{name}`")),
        }
    }

    /// `infederation [federation, coop] -> [0|1]`.
    pub fn in_federation(&self, federation: &str, coop: &str) -> VmResult<bool> {
        self.federation_named(federation)?;
        Ok(self.federation_members.contains(&key(federation, coop)))
    }

    /// `federationsize [federation] -> [n]`.
    pub fn federation_size(&self, federation: &str) -> VmResult<i64> {
        let f = self.federation_named(federation)?;
        Ok(i64::try_from(f.members).unwrap_or(i64::MAX))
    }

    /// `federationmember [federation, index] -> [coop]`: the name of member number `index`
    /// (from 0, in byte order of the names); 1 gas per member before it.
    pub fn federation_member(
        &self,
        cx: &mut HostCx,
        federation: &str,
        index: i64,
    ) -> VmResult<String> {
        let size = self.federation_named(federation)?.members;
        let Some(at) = u64::try_from(index).ok().filter(|&i| i < size) else {
            return fail(
                ErrorKind::InvalidArgument,
                format!(
                    "federation `{federation}` has {size} member(s); there is no member number {index}"
                ),
            );
        };
        cx.charge(at);
        self.federation_members
            .iter_from(&key(federation, ""))
            .take_while(|((f, _), _)| f == federation)
            .nth(at as usize)
            .map(|((_, coop), _)| coop.clone())
            .ok_or_else(|| {
                coopvm_core::VmError::new(
                    ErrorKind::HostFailure,
                    format!("federation `{federation}` counts {size} members but lists fewer"),
                )
            })
    }

    /// `createfederation [name, coop] -> []`.
    pub fn create_federation(&mut self, cx: &mut HostCx, name: &str, coop: &str) -> VmResult<()> {
        check_name("federation name", name)?;
        let by = caller(cx)?.to_owned();
        if self.federations.contains(&name.to_owned()) {
            return fail(
                ErrorKind::AlreadyExists,
                format!("federation `{name}` already exists"),
            );
        }
        self.coop(coop)?;
        self.require_member(coop, &by)?;
        self.federations.insert(
            name.to_owned(),
            Federation {
                creator: by.clone(),
                founder: coop.to_owned(),
                members: 1,
            },
        );
        self.federation_members.insert(
            key(name, coop),
            FederationMember {
                added_by: by,
                block: cx.ctx.block_number,
            },
        );
        cx.emit(
            "FederationCreated",
            [
                ("federation", EventValue::from(name)),
                ("cooperative", coop.into()),
            ],
        );
        Ok(())
    }

    /// `joinfederation [federation, coop] -> []`.
    pub fn join_federation(
        &mut self,
        cx: &mut HostCx,
        federation: &str,
        coop: &str,
    ) -> VmResult<()> {
        let by = caller(cx)?.to_owned();
        if !self.federations.contains(&federation.to_owned()) {
            return fail(
                ErrorKind::NotFound,
                format!("no federation named `{federation}`"),
            );
        }
        self.coop(coop)?;
        self.require_member(coop, &by)?;
        if self.federation_members.contains(&key(federation, coop)) {
            return fail(
                ErrorKind::AlreadyMember,
                format!("`{coop}` is already in federation `{federation}`"),
            );
        }
        self.federation_members.insert(
            key(federation, coop),
            FederationMember {
                added_by: by,
                block: cx.ctx.block_number,
            },
        );
        self.federations
            .update(&federation.to_owned(), |f| f.members += 1);
        cx.emit(
            "FederationJoined",
            [
                ("federation", EventValue::from(federation)),
                ("cooperative", coop.into()),
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

    #[test]
    fn create_and_join() {
        let mut h = Harness::new();
        h.op(Op::CreateCooperative, &[S("a"), I(0)]).unwrap();
        h.caller("did:key:bob")
            .op(Op::CreateCooperative, &[S("b"), I(0)])
            .unwrap();
        h.caller("did:key:alice")
            .op(Op::CreateFederation, &[S("fed"), S("a")])
            .unwrap();
        assert_eq!(h.event_names(), ["FederationCreated"]);
        h.caller("did:key:bob")
            .op(Op::JoinFederation, &[S("fed"), S("b")])
            .unwrap();
        assert_eq!(h.event_names(), ["FederationJoined"]);
        let f = h.host.federation("fed").unwrap();
        assert_eq!((f.founder.as_str(), f.members), ("a", 2));
    }

    #[test]
    fn reads() {
        let mut h = Harness::new();
        for (caller, coop) in [
            ("did:key:alice", "m"),
            ("did:key:bob", "b"),
            ("did:key:carol", "z"),
        ] {
            h.caller(caller)
                .op(Op::CreateCooperative, &[S(coop), I(0)])
                .unwrap();
        }
        h.caller("did:key:carol")
            .op(Op::CreateFederation, &[S("fed"), S("z")])
            .unwrap();
        h.caller("did:key:alice")
            .op(Op::JoinFederation, &[S("fed"), S("m")])
            .unwrap();
        h.caller("did:key:bob")
            .op(Op::JoinFederation, &[S("fed"), S("b")])
            .unwrap();
        assert_eq!(h.op(Op::FederationSize, &[S("fed")]), Ok(3));
        assert_eq!(h.op(Op::InFederation, &[S("fed"), S("m")]), Ok(1));
        assert_eq!(h.op(Op::InFederation, &[S("fed"), S("nope")]), Ok(0));
        // Members by index, in byte order of their names, 1 gas per member skipped; the
        // result is a handle of a string the run made.
        for (i, name) in ["b", "m", "z"].iter().enumerate() {
            let handle = h
                .op(Op::FederationMember, &[S("fed"), I(i as i64)])
                .unwrap();
            assert_eq!(handle, 1, "the first created string after the one constant");
            assert_eq!(h.text.as_deref(), Some(*name));
            assert_eq!(h.gas, i as u64);
            assert!(h.events.is_empty());
        }
        assert_eq!(
            h.refuse(Op::FederationMember, &[S("fed"), I(3)]),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            h.refuse(Op::FederationMember, &[S("fed"), I(-1)]),
            ErrorKind::InvalidArgument
        );
        for op in [Op::FederationSize, Op::FederationMember, Op::InFederation] {
            let args: &[_] = match op {
                Op::FederationSize => &[S("nope")],
                Op::FederationMember => &[S("nope"), I(0)],
                _ => &[S("nope"), S("m")],
            };
            assert_eq!(h.refuse(op, args), ErrorKind::NotFound, "{op:?}");
        }
    }

    #[test]
    fn refusals() {
        let mut h = Harness::new();
        h.op(Op::CreateCooperative, &[S("a"), I(0)]).unwrap();
        h.op(Op::CreateFederation, &[S("fed"), S("a")]).unwrap();
        assert_eq!(
            h.refuse(Op::CreateFederation, &[S("fed"), S("a")]),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            h.refuse(Op::CreateFederation, &[S("f2"), S("nope")]),
            ErrorKind::NotFound
        );
        assert_eq!(
            h.refuse(Op::CreateFederation, &[S(""), S("a")]),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            h.caller("did:key:bob")
                .refuse(Op::CreateFederation, &[S("f2"), S("a")]),
            ErrorKind::NotMember
        );
        assert_eq!(
            h.refuse(Op::JoinFederation, &[S("nope"), S("a")]),
            ErrorKind::NotFound
        );
        assert_eq!(
            h.refuse(Op::JoinFederation, &[S("fed"), S("nope")]),
            ErrorKind::NotFound
        );
        assert_eq!(
            h.refuse(Op::JoinFederation, &[S("fed"), S("a")]),
            ErrorKind::NotMember
        );
        h.caller("did:key:alice");
        assert_eq!(
            h.refuse(Op::JoinFederation, &[S("fed"), S("a")]),
            ErrorKind::AlreadyMember
        );
    }
}

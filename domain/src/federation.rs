//! Federations of cooperatives. A member of a cooperative acts for it: creating a federation
//! with it as founder, or joining it to an existing federation.

use super::{caller, check_name, fail, key, Domain, Federation, FederationMember};
use coopvm_core::error::{ErrorKind, VmResult};
use coopvm_core::{EventValue, HostCx};

impl Domain {
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

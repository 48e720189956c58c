//! Governance: proposals with a quorum and a deadline, votes weighted by delegation, and
//! execution once both are met.
//!
//! # Delegation and vote weight
//! A member may delegate their vote in a cooperative to another member (one delegate at a
//! time; a new delegation replaces the old; a delegation that would close a cycle is
//! refused). When member `v` votes on a proposal, the vote counts `v` and every member of
//! the cooperative whose delegation chain (`m`, `m`'s delegate, that one's delegate, ...)
//! passes through `v` and who has not been counted on this proposal yet; its weight is the
//! number of members counted. Every member is counted at most once per proposal, so there is
//! no double counting: whoever votes first in a chain counts the uncounted members below
//! them, and a member who was counted (by their own vote or a delegate's) cannot vote again
//! (`double_vote`). Voting directly overrides one's delegation for that proposal if the
//! delegate has not voted yet.

use super::{caller, check_name, fail, key, Ballot, Domain, Proposal, PERM_GOVERNANCE};
use coopvm_core::error::{ErrorKind, VmResult};
use coopvm_core::{EventValue, HostCx};
use std::collections::{BTreeMap, BTreeSet};

/// `proposalstate`: voting is open (before the deadline).
pub const STATE_VOTING: i64 = 0;
/// `proposalstate`: the deadline has passed and the proposal is not executed yet.
pub const STATE_ENDED: i64 = 1;
/// `proposalstate`: executed, and it passed.
pub const STATE_PASSED: i64 = 2;
/// `proposalstate`: executed, and it did not pass.
pub const STATE_REJECTED: i64 = 3;

impl Domain {
    fn proposal_found(&self, id: i64) -> VmResult<&Proposal> {
        match self.proposals.get(&id) {
            Some(p) => Ok(p),
            None => fail(ErrorKind::NotFound, format!("no proposal with id {id}")),
        }
    }

    /// `proposalstate [id] -> [state]`: [`STATE_VOTING`], [`STATE_ENDED`], [`STATE_PASSED`]
    /// or [`STATE_REJECTED`], at the run's timestamp.
    pub fn proposal_state(&self, cx: &HostCx, id: i64) -> VmResult<i64> {
        let p = self.proposal_found(id)?;
        Ok(match (p.executed, p.passed) {
            (true, true) => STATE_PASSED,
            (true, false) => STATE_REJECTED,
            (false, _) if i128::from(cx.ctx.timestamp) < i128::from(p.deadline) => STATE_VOTING,
            (false, _) => STATE_ENDED,
        })
    }

    /// `proposaltally [id, choice] -> [weight]`: the yes weight (`choice != 0`) or the no
    /// weight.
    pub fn proposal_tally(&self, id: i64, choice: i64) -> VmResult<i64> {
        let p = self.proposal_found(id)?;
        Ok(if choice != 0 { p.yes } else { p.no })
    }

    /// `hasvoted [id, did] -> [0|1]`: whether `did` was counted on the proposal.
    pub fn has_voted(&self, id: i64, did: &str) -> VmResult<bool> {
        self.proposal_found(id)?;
        Ok(self.ballots.contains(&(id, did.to_owned())))
    }

    fn proposal_mut_check(&self, id: i64) -> VmResult<&Proposal> {
        let p = self.proposal_found(id)?;
        if p.executed {
            return fail(
                ErrorKind::ProposalClosed,
                format!("proposal {id} was already executed"),
            );
        }
        Ok(p)
    }

    /// The delegate of `did` in `coop`, if any.
    fn delegate_of(&self, coop: &str, did: &str) -> Option<&String> {
        self.delegations.get(&key(coop, did))
    }

    /// `createproposal [coop, title, quorum, deadline] -> [id]`; ids count from 1.
    pub fn create_proposal(
        &mut self,
        cx: &mut HostCx,
        coop: &str,
        title: &str,
        quorum: i64,
        deadline: i64,
    ) -> VmResult<i64> {
        check_name("proposal title", title)?;
        let by = caller(cx)?.to_owned();
        self.coop(coop)?;
        self.require_member(coop, &by)?;
        if quorum < 1 {
            return fail(
                ErrorKind::InvalidArgument,
                format!("a quorum must be at least 1, not {quorum}"),
            );
        }
        let now = i128::from(cx.ctx.timestamp);
        if i128::from(deadline) <= now {
            return fail(
                ErrorKind::InvalidArgument,
                format!("the deadline {deadline} is not after the current timestamp {now}"),
            );
        }
        let id = self.counter("next_proposal").max(1);
        self.meta.insert("next_proposal".to_owned(), id + 1);
        self.proposals.insert(
            id,
            Proposal {
                cooperative: coop.to_owned(),
                title: title.to_owned(),
                creator: by,
                quorum,
                deadline,
                yes: 0,
                no: 0,
                executed: false,
                passed: false,
            },
        );
        cx.emit(
            "ProposalCreated",
            [
                ("proposal", EventValue::Int(id)),
                ("cooperative", coop.into()),
                ("title", title.into()),
                ("quorum", quorum.into()),
                ("deadline", deadline.into()),
            ],
        );
        Ok(id)
    }

    /// `castvote [id, choice] -> []`.
    pub fn cast_vote(&mut self, cx: &mut HostCx, id: i64, choice: i64) -> VmResult<()> {
        let voter = caller(cx)?.to_owned();
        let p = self.proposal_mut_check(id)?;
        let now = i128::from(cx.ctx.timestamp);
        if now >= i128::from(p.deadline) {
            return fail(
                ErrorKind::ProposalClosed,
                format!(
                    "voting on proposal {id} ended at timestamp {} (now {now})",
                    p.deadline
                ),
            );
        }
        let coop = p.cooperative.clone();
        self.require_member(&coop, &voter)?;
        if let Some(b) = self.ballots.get(&(id, voter.clone())) {
            let how = if b.by == voter {
                "already voted".to_owned()
            } else {
                format!("was already counted in the vote of `{}`", b.by)
            };
            return fail(
                ErrorKind::DoubleVote,
                format!("`{voter}` {how} on proposal {id}"),
            );
        }
        // Count the voter and every uncounted member whose delegation chain passes through
        // the voter: the voter's tree in the reversed delegation graph.
        let mut delegators: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut steps = 0u64;
        for ((c, from), to) in self.delegations.iter_from(&key(&coop, "")) {
            if *c != coop {
                break;
            }
            steps += 1;
            delegators
                .entry(to.as_str())
                .or_default()
                .push(from.as_str());
        }
        let mut counted = Vec::new();
        let mut seen = BTreeSet::new();
        let mut todo = vec![voter.as_str()];
        while let Some(m) = todo.pop() {
            if !seen.insert(m) {
                continue; // unreachable for acyclic delegations; never loop forever
            }
            steps += 1;
            if !self.ballots.contains(&(id, m.to_owned())) {
                counted.push(m.to_owned());
            }
            if let Some(ds) = delegators.get(m) {
                todo.extend(ds.iter().copied());
            }
        }
        cx.charge(steps);
        let yes = choice != 0;
        let weight = counted.len() as i64;
        for m in counted {
            self.ballots.insert(
                (id, m),
                Ballot {
                    by: voter.clone(),
                    yes,
                },
            );
        }
        self.proposals.update(&id, |p| {
            if yes {
                p.yes += weight;
            } else {
                p.no += weight;
            }
        });
        cx.emit(
            "VoteCast",
            [
                ("proposal", EventValue::Int(id)),
                ("voter", voter.into()),
                ("choice", i64::from(yes).into()),
                ("weight", weight.into()),
            ],
        );
        Ok(())
    }

    /// `delegatevotes [coop, delegate] -> []`.
    pub fn delegate_votes(&mut self, cx: &mut HostCx, coop: &str, delegate: &str) -> VmResult<()> {
        let from = caller(cx)?.to_owned();
        self.coop(coop)?;
        self.require_member(coop, &from)?;
        self.require_member(coop, delegate)?;
        // Walk the delegate's chain: reaching the caller would close a cycle.
        let mut at = delegate;
        let mut steps = 1u64;
        loop {
            if at == from {
                cx.charge(steps);
                return fail(
                    ErrorKind::DelegationCycle,
                    format!(
                        "delegating from `{from}` to `{delegate}` in `{coop}` would create a cycle"
                    ),
                );
            }
            match self.delegate_of(coop, at) {
                Some(next) if (steps as usize) <= self.delegations.len() => {
                    at = next;
                    steps += 1;
                }
                _ => break,
            }
        }
        cx.charge(steps);
        self.delegations
            .insert(key(coop, &from), delegate.to_owned());
        cx.emit(
            "VotesDelegated",
            [
                ("cooperative", EventValue::from(coop)),
                ("delegator", from.into()),
                ("delegate", delegate.into()),
            ],
        );
        Ok(())
    }

    /// `executeproposal [id] -> [passed]`: after the deadline, with quorum, once.
    pub fn execute_proposal(&mut self, cx: &mut HostCx, id: i64) -> VmResult<bool> {
        let p = self.proposal_mut_check(id)?;
        let now = i128::from(cx.ctx.timestamp);
        if now < i128::from(p.deadline) {
            return fail(
                ErrorKind::DeadlineNotReached,
                format!(
                    "proposal {id} can be executed from timestamp {} on (now {now})",
                    p.deadline
                ),
            );
        }
        let turnout = p.yes + p.no;
        if turnout < p.quorum {
            return fail(
                ErrorKind::QuorumNotMet,
                format!(
                    "proposal {id} has {turnout} vote(s), its quorum is {}",
                    p.quorum
                ),
            );
        }
        let passed = p.yes > p.no;
        let (yes, no) = (p.yes, p.no);
        self.proposals.update(&id, |p| {
            p.executed = true;
            p.passed = passed;
        });
        cx.emit(
            "ProposalExecuted",
            [
                ("proposal", EventValue::Int(id)),
                ("passed", i64::from(passed).into()),
                ("yes", yes.into()),
                ("no", no.into()),
            ],
        );
        Ok(passed)
    }

    /// `updatequorum [id, quorum] -> []`: only with the `governance` permission.
    pub fn update_quorum(&mut self, cx: &mut HostCx, id: i64, quorum: i64) -> VmResult<()> {
        if !cx.ctx.has_permission(PERM_GOVERNANCE) {
            return fail(
                ErrorKind::PermissionDenied,
                format!("changing a quorum needs the permission `{PERM_GOVERNANCE}`"),
            );
        }
        let previous = self.proposal_mut_check(id)?.quorum;
        if quorum < 1 {
            return fail(
                ErrorKind::InvalidArgument,
                format!("a quorum must be at least 1, not {quorum}"),
            );
        }
        self.proposals.update(&id, |p| p.quorum = quorum);
        cx.emit(
            "QuorumUpdated",
            [
                ("proposal", EventValue::Int(id)),
                ("quorum", quorum.into()),
                ("previous", previous.into()),
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

    const A_: &str = "did:key:alice";
    const B_: &str = "did:key:bob";
    const C_: &str = "did:key:carol";
    const D_: &str = "did:key:dave";

    /// Alice creates `makers`; bob, carol and dave join; alice opens proposal 1 (quorum 3,
    /// deadline 200; the harness's clock says 100).
    fn world() -> Harness {
        let mut h = Harness::new();
        h.op(Op::CreateCooperative, &[S("makers"), I(0)]).unwrap();
        for m in [B_, C_, D_] {
            h.caller(m).op(Op::JoinCooperative, &[S("makers")]).unwrap();
        }
        let id = h
            .caller(A_)
            .op(Op::CreateProposal, &[S("makers"), S("paint"), I(3), I(200)])
            .unwrap();
        assert_eq!(id, 1);
        assert_eq!(h.event_names(), ["ProposalCreated"]);
        h
    }

    fn vote(h: &mut Harness, who: &str, choice: i64) -> Result<i64, ErrorKind> {
        h.caller(who)
            .op(Op::CastVote, &[I(1), I(choice)])
            .map_err(|e| e.kind)?;
        match h.events[0].fields["weight"] {
            EventValue::Int(w) => Ok(w),
            _ => unreachable!(),
        }
    }

    #[test]
    fn delegated_votes_are_weighted_and_execute_after_deadline() {
        let mut h = world();
        // carol -> bob, dave -> carol: bob represents three members.
        h.caller(C_)
            .op(Op::DelegateVotes, &[S("makers"), S(B_)])
            .unwrap();
        assert_eq!(h.event_names(), ["VotesDelegated"]);
        h.caller(D_)
            .op(Op::DelegateVotes, &[S("makers"), S(C_)])
            .unwrap();
        assert_eq!(vote(&mut h, B_, 1), Ok(3));
        // Dynamic gas: two delegations read, three members in bob's tree.
        assert_eq!(h.gas, 2 + 3);
        assert_eq!(vote(&mut h, A_, 0), Ok(1));
        assert_eq!(h.gas, 2 + 1);
        // Carol and dave were counted in bob's vote.
        assert_eq!(vote(&mut h, C_, 0), Err(ErrorKind::DoubleVote));
        assert_eq!(vote(&mut h, B_, 0), Err(ErrorKind::DoubleVote));
        let p = h.host.proposal(1).unwrap();
        assert_eq!((p.yes, p.no), (3, 1));
        // Too early.
        assert_eq!(
            h.refuse(Op::ExecuteProposal, &[I(1)]),
            ErrorKind::DeadlineNotReached
        );
        h.ctx.timestamp = 200;
        assert_eq!(vote(&mut h, D_, 1), Err(ErrorKind::ProposalClosed));
        assert_eq!(h.op(Op::ExecuteProposal, &[I(1)]), Ok(1));
        assert_eq!(h.event_names(), ["ProposalExecuted"]);
        assert!(h.host.proposal(1).unwrap().passed);
        // Only once.
        assert_eq!(
            h.refuse(Op::ExecuteProposal, &[I(1)]),
            ErrorKind::ProposalClosed
        );
        assert_eq!(vote(&mut h, D_, 1), Err(ErrorKind::ProposalClosed));
    }

    #[test]
    fn reads_follow_the_proposal() {
        let mut h = world();
        let state = |h: &mut Harness| h.op(Op::ProposalState, &[I(1)]).unwrap();
        let tally = |h: &mut Harness, choice| h.op(Op::ProposalTally, &[I(1), I(choice)]).unwrap();
        let voted = |h: &mut Harness, who| h.op(Op::HasVoted, &[I(1), S(who)]).unwrap();
        assert_eq!(state(&mut h), STATE_VOTING);
        assert_eq!((tally(&mut h, 1), tally(&mut h, 0)), (0, 0));
        h.caller(C_)
            .op(Op::DelegateVotes, &[S("makers"), S(B_)])
            .unwrap();
        vote(&mut h, B_, 1).unwrap();
        vote(&mut h, A_, 0).unwrap();
        assert_eq!(
            (tally(&mut h, 1), tally(&mut h, 7), tally(&mut h, 0)),
            (2, 2, 1)
        );
        // Carol was counted through bob; dave was not.
        assert_eq!(
            (voted(&mut h, B_), voted(&mut h, C_), voted(&mut h, D_)),
            (1, 1, 0)
        );
        assert_eq!(voted(&mut h, "not a did"), 0);
        assert!(h.events.is_empty());
        assert_eq!(h.gas, 0);
        h.ctx.timestamp = 200;
        assert_eq!(state(&mut h), STATE_ENDED);
        h.op(Op::ExecuteProposal, &[I(1)]).unwrap();
        assert_eq!(state(&mut h), STATE_PASSED);
        // A rejected proposal.
        h.ctx.timestamp = 100;
        h.op(Op::CreateProposal, &[S("makers"), S("t"), I(1), I(150)])
            .unwrap();
        h.caller(D_).op(Op::CastVote, &[I(2), I(0)]).unwrap();
        h.ctx.timestamp = 150;
        h.op(Op::ExecuteProposal, &[I(2)]).unwrap();
        assert_eq!(h.op(Op::ProposalState, &[I(2)]), Ok(STATE_REJECTED));
        // A missing proposal is the writing operations' refusal.
        assert_eq!(h.refuse(Op::ProposalState, &[I(9)]), ErrorKind::NotFound);
        assert_eq!(
            h.refuse(Op::ProposalTally, &[I(9), I(1)]),
            ErrorKind::NotFound
        );
        assert_eq!(h.refuse(Op::HasVoted, &[I(-1), S(A_)]), ErrorKind::NotFound);
    }

    #[test]
    fn direct_vote_overrides_delegation_without_double_counting() {
        let mut h = world();
        h.caller(C_)
            .op(Op::DelegateVotes, &[S("makers"), S(B_)])
            .unwrap();
        // Carol votes before bob: she counts herself only; bob then counts only himself.
        assert_eq!(vote(&mut h, C_, 0), Ok(1));
        assert_eq!(vote(&mut h, B_, 1), Ok(1));
        let p = h.host.proposal(1).unwrap();
        assert_eq!((p.yes, p.no), (1, 1));
    }

    #[test]
    fn quorum_not_met_then_lowered_by_governance() {
        let mut h = world();
        assert_eq!(vote(&mut h, A_, 1), Ok(1));
        h.ctx.timestamp = 500;
        assert_eq!(
            h.refuse(Op::ExecuteProposal, &[I(1)]),
            ErrorKind::QuorumNotMet
        );
        // updatequorum needs the governance permission.
        assert_eq!(
            h.refuse(Op::UpdateQuorum, &[I(1), I(1)]),
            ErrorKind::PermissionDenied
        );
        h.ctx.permissions.push(PERM_GOVERNANCE.into());
        assert_eq!(
            h.refuse(Op::UpdateQuorum, &[I(1), I(0)]),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            h.refuse(Op::UpdateQuorum, &[I(9), I(1)]),
            ErrorKind::NotFound
        );
        h.op(Op::UpdateQuorum, &[I(1), I(1)]).unwrap();
        assert_eq!(h.event_names(), ["QuorumUpdated"]);
        assert_eq!(h.events[0].fields["previous"], EventValue::Int(3));
        assert_eq!(h.op(Op::ExecuteProposal, &[I(1)]), Ok(1));
        assert_eq!(
            h.refuse(Op::UpdateQuorum, &[I(1), I(2)]),
            ErrorKind::ProposalClosed
        );
    }

    #[test]
    fn a_tie_does_not_pass() {
        let mut h = world();
        vote(&mut h, A_, 1).unwrap();
        vote(&mut h, B_, 0).unwrap();
        vote(&mut h, C_, 1).unwrap();
        vote(&mut h, D_, 0).unwrap();
        h.ctx.timestamp = 200;
        assert_eq!(h.op(Op::ExecuteProposal, &[I(1)]), Ok(0));
    }

    #[test]
    fn delegation_refusals() {
        let mut h = world();
        h.caller(A_)
            .op(Op::DelegateVotes, &[S("makers"), S(B_)])
            .unwrap();
        h.caller(B_)
            .op(Op::DelegateVotes, &[S("makers"), S(C_)])
            .unwrap();
        // carol -> alice would close alice -> bob -> carol -> alice.
        assert_eq!(
            h.caller(C_)
                .refuse(Op::DelegateVotes, &[S("makers"), S(A_)]),
            ErrorKind::DelegationCycle
        );
        assert_eq!(
            h.refuse(Op::DelegateVotes, &[S("makers"), S(C_)]),
            ErrorKind::DelegationCycle
        );
        assert_eq!(
            h.refuse(Op::DelegateVotes, &[S("makers"), S("did:key:zed")]),
            ErrorKind::NotMember
        );
        assert_eq!(
            h.caller("did:key:zed")
                .refuse(Op::DelegateVotes, &[S("makers"), S(A_)]),
            ErrorKind::NotMember
        );
        assert_eq!(
            h.refuse(Op::DelegateVotes, &[S("nope"), S(A_)]),
            ErrorKind::NotFound
        );
        // Re-delegating replaces: bob -> dave; then carol -> alice is fine.
        h.caller(B_)
            .op(Op::DelegateVotes, &[S("makers"), S(D_)])
            .unwrap();
        h.caller(C_)
            .op(Op::DelegateVotes, &[S("makers"), S(A_)])
            .unwrap();
    }

    #[test]
    fn proposal_and_vote_refusals() {
        let mut h = world();
        let p = |h: &mut Harness, coop: &str, q: i64, d: i64| {
            h.refuse(Op::CreateProposal, &[S(coop), S("t"), I(q), I(d)])
        };
        assert_eq!(p(&mut h, "nope", 1, 200), ErrorKind::NotFound);
        assert_eq!(p(&mut h, "makers", 0, 200), ErrorKind::InvalidArgument);
        assert_eq!(p(&mut h, "makers", 1, 100), ErrorKind::InvalidArgument);
        h.caller("did:key:zed");
        assert_eq!(p(&mut h, "makers", 1, 200), ErrorKind::NotMember);
        assert_eq!(vote(&mut h, "did:key:zed", 1), Err(ErrorKind::NotMember));
        assert_eq!(
            h.caller(A_).refuse(Op::CastVote, &[I(2), I(1)]),
            ErrorKind::NotFound
        );
        assert_eq!(h.refuse(Op::ExecuteProposal, &[I(-1)]), ErrorKind::NotFound);
        assert_eq!(vote(&mut h, A_, 1), Ok(1));
        assert_eq!(vote(&mut h, A_, 1), Err(ErrorKind::DoubleVote));
        // Proposal ids keep counting.
        assert_eq!(
            h.op(Op::CreateProposal, &[S("makers"), S("t"), I(1), I(101)]),
            Ok(2)
        );
    }
}

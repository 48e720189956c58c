//! The cooperative domain: a deterministic, transactional [`Host`] for coopvm.
//!
//! [`CoopHost`] keeps the cooperative world in memory: cooperatives and their members and
//! resource pools, federations, proposals with votes and delegations, reputations, the DID
//! registry, the deployed contracts and every contract's key-value state. It is the host
//! both engines call for domain opcodes, and the in-memory half of the persistent
//! [`store::Store`]. The semantics of each operation (stack effect, gas, refusals,
//! events) are specified in `docs/domain.md`; the code is split by domain:
//! [`cooperative`], [`federation`], [`governance`], [`reputation`], [`identity`] and
//! [`contracts`] (deployment, runs and `callcontract`).
//!
//! # Transactions
//! Every table is a journaled [`table::Table`]: a change records the previous value, so
//! [`Host::rollback`] undoes a run in time proportional to what the run changed. Runs nest
//! (a `callcontract` runs the callee under its own `begin`/`commit`), each `begin` pushes a
//! savepoint, and only the outermost commit makes changes permanent (and *dirty*, i.e. due to
//! be written by the store).
//!
//! ```
//! use coopvm_core::{load, ExecutionContext, Limits};
//! use coopvm_domain::CoopHost;
//! use coopvm_engine::Engine;
//! let src = "push \"makers\"\npush 100\ncreatecooperative\n\
//!            push \"makers\"\npush \"did:key:bob\"\npush 30\nallocateresource\n";
//! let v = load::from_source("demo.casm", src).unwrap().verify(&Limits::default()).unwrap();
//! let mut host = CoopHost::new();
//! let ctx = ExecutionContext { caller_did: "did:key:alice".into(), ..Default::default() };
//! // bob is not a member yet: the allocation is refused and the whole run rolls back.
//! let out = host.execute(&v, &ctx, 10_000, &Engine::Interp);
//! assert_eq!(out.result.unwrap_err().kind.name(), "not_member");
//! assert!(host.cooperative("makers").is_none());
//! ```

pub mod contracts;
pub mod cooperative;
pub mod federation;
pub mod governance;
pub mod identity;
pub mod reputation;
pub mod store;
pub mod table;

use coopvm_core::error::{ErrorKind, VmError, VmResult};
use coopvm_core::{Event, Host, HostCx, Limits, State, Verified};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use table::{Journal, Shape, Table};

/// The caller permission that allows `updatequorum`.
pub const PERM_GOVERNANCE: &str = "governance";
/// The caller permission that allows `updatereputation`.
pub const PERM_REPUTATION: &str = "reputation";
/// The caller permission that allows `allocateresource` in a cooperative the caller did not
/// create.
pub const PERM_TREASURY: &str = "treasury";
/// Longest name (cooperative, federation, proposal title) in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Largest initial resource pool of a cooperative.
pub const MAX_POOL: i64 = 1_000_000_000_000_000;

/// A cooperative: its fixed resource supply, the part of it still in the pool, its members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cooperative {
    /// DID of the member who created it.
    pub creator: String,
    /// The supply minted at creation; pool + every member's balance always equals it.
    pub supply: i64,
    /// Units not yet allocated to members.
    pub pool: i64,
    /// Number of current members.
    pub members: u64,
    /// Block of creation.
    pub created_block: u64,
}

/// A member's record in a cooperative.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Units of the cooperative's resource the member holds.
    pub balance: i64,
    /// Block the member joined in.
    pub joined_block: u64,
}

/// A federation of cooperatives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Federation {
    /// DID of its creator.
    pub creator: String,
    /// The founding cooperative.
    pub founder: String,
    /// Number of member cooperatives.
    pub members: u64,
}

/// A cooperative's membership in a federation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationMember {
    /// DID of the member of the cooperative who joined it to the federation.
    pub added_by: String,
    /// Block of joining.
    pub block: u64,
}

/// A governance proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The cooperative that votes on it.
    pub cooperative: String,
    /// Its title.
    pub title: String,
    /// DID of its creator.
    pub creator: String,
    /// Minimum total vote weight (yes + no) for execution.
    pub quorum: i64,
    /// Timestamp from which voting is closed and execution allowed.
    pub deadline: i64,
    /// Weight of yes votes.
    pub yes: i64,
    /// Weight of no votes.
    pub no: i64,
    /// Whether it has been executed.
    pub executed: bool,
    /// Whether it passed (meaningful once executed).
    pub passed: bool,
}

/// Who cast the vote that counted a member on a proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    /// The voter whose `castvote` counted this member (the member, or a delegate).
    pub by: String,
    /// The choice (true = yes).
    pub yes: bool,
}

/// A DID's entry in the registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DidRecord {
    /// The DID allowed to change the document.
    pub controller: String,
    /// The document (opaque text; JSON with `publicKeyMultibase` is understood by `verifydid`).
    pub document: String,
    /// Number of updates so far (1 after registration).
    pub version: u64,
}

/// The deployment record of a contract id: who owns it and which code it runs. See
/// [`contracts`] ("Identity").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// The DID that deployed the contract (the caller of its first successful run, or of
    /// `deploy`): the only one who may upgrade it.
    pub owner: String,
    /// SHA-256 of the current code's canonical bytes, 64 hexadecimal digits
    /// ([`coopvm_core::address::code_hash_hex`]).
    pub code_hash: String,
    /// 1 when deployed, one more for every upgrade.
    pub revision: u64,
    /// The code hashes of the earlier revisions, oldest first.
    pub previous: Vec<String>,
}

/// Number of tables in a [`Domain`].
pub const TABLES: usize = 12;

/// Every table of the cooperative world.
///
/// Two domains are equal when every table is (see [`Table`]'s equality: entries, undo log
/// and dirty keys), exactly what their `Debug` text shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    /// Cooperatives by name.
    pub cooperatives: Table<String, Cooperative>,
    /// Members by (cooperative, DID).
    pub members: Table<(String, String), Member>,
    /// Federations by name.
    pub federations: Table<String, Federation>,
    /// Federation memberships by (federation, cooperative).
    pub federation_members: Table<(String, String), FederationMember>,
    /// Proposals by id.
    pub proposals: Table<i64, Proposal>,
    /// Counted members by (proposal, DID).
    pub ballots: Table<(i64, String), Ballot>,
    /// Vote delegations by (cooperative, delegator) -> delegate.
    pub delegations: Table<(String, String), String>,
    /// Reputation scores by DID.
    pub reputations: Table<String, i64>,
    /// The DID registry.
    pub dids: Table<String, DidRecord>,
    /// Every contract's key-value state, by contract id.
    pub contract_states: Table<String, State>,
    /// Counters: `next_proposal`, `runs`.
    pub meta: Table<String, i64>,
    /// Deployment records by contract id (the code itself is kept by [`CoopHost`]).
    pub deployments: Table<String, Deployment>,
}

impl Default for Domain {
    fn default() -> Self {
        Domain {
            cooperatives: Table::new("cooperatives"),
            members: Table::with_shape("members", list(&["cooperative", "member"], None)),
            federations: Table::new("federations"),
            federation_members: Table::with_shape(
                "federation_members",
                list(&["federation", "cooperative"], None),
            ),
            proposals: Table::with_shape("proposals", list(&["id"], None)),
            ballots: Table::with_shape("ballots", list(&["proposal", "member"], None)),
            delegations: Table::with_shape(
                "delegations",
                list(&["cooperative", "delegator"], Some("delegate")),
            ),
            reputations: Table::new("reputations"),
            dids: Table::new("dids"),
            contract_states: Table::new("contract_states"),
            meta: Table::new("meta"),
            deployments: Table::new("deployments"),
        }
    }
}

const fn list(key: &'static [&'static str], value: Option<&'static str>) -> Shape {
    Shape::List { key, value }
}

impl Domain {
    /// Every table, type-erased, in a fixed order.
    pub fn journals(&self) -> [&dyn Journal; TABLES] {
        [
            &self.cooperatives,
            &self.members,
            &self.federations,
            &self.federation_members,
            &self.proposals,
            &self.ballots,
            &self.delegations,
            &self.reputations,
            &self.dids,
            &self.contract_states,
            &self.meta,
            &self.deployments,
        ]
    }

    /// Every table, type-erased and mutable, in the order of [`Domain::journals`].
    pub fn journals_mut(&mut self) -> [&mut dyn Journal; TABLES] {
        [
            &mut self.cooperatives,
            &mut self.members,
            &mut self.federations,
            &mut self.federation_members,
            &mut self.proposals,
            &mut self.ballots,
            &mut self.delegations,
            &mut self.reputations,
            &mut self.dids,
            &mut self.contract_states,
            &mut self.meta,
            &mut self.deployments,
        ]
    }

    /// Makes every table equal to `base`'s, copying only what differs (see
    /// [`Table::reset_to`]).
    pub fn reset_to(&mut self, base: &Domain) {
        let Domain {
            cooperatives,
            members,
            federations,
            federation_members,
            proposals,
            ballots,
            delegations,
            reputations,
            dids,
            contract_states,
            meta,
            deployments,
        } = self;
        cooperatives.reset_to(&base.cooperatives);
        members.reset_to(&base.members);
        federations.reset_to(&base.federations);
        federation_members.reset_to(&base.federation_members);
        proposals.reset_to(&base.proposals);
        ballots.reset_to(&base.ballots);
        delegations.reset_to(&base.delegations);
        reputations.reset_to(&base.reputations);
        dids.reset_to(&base.dids);
        contract_states.reset_to(&base.contract_states);
        meta.reset_to(&base.meta);
        deployments.reset_to(&base.deployments);
    }

    /// Makes every table equal to `base`'s in time proportional to what changed since this
    /// domain equalled it (see [`Table::reset_changes_to`] and its precondition).
    pub fn reset_changes_to(&mut self, base: &Domain) {
        let Domain {
            cooperatives,
            members,
            federations,
            federation_members,
            proposals,
            ballots,
            delegations,
            reputations,
            dids,
            contract_states,
            meta,
            deployments,
        } = self;
        cooperatives.reset_changes_to(&base.cooperatives);
        members.reset_changes_to(&base.members);
        federations.reset_changes_to(&base.federations);
        federation_members.reset_changes_to(&base.federation_members);
        proposals.reset_changes_to(&base.proposals);
        ballots.reset_changes_to(&base.ballots);
        delegations.reset_changes_to(&base.delegations);
        reputations.reset_changes_to(&base.reputations);
        dids.reset_changes_to(&base.dids);
        contract_states.reset_changes_to(&base.contract_states);
        meta.reset_changes_to(&base.meta);
        deployments.reset_changes_to(&base.deployments);
    }

    fn counter(&self, name: &str) -> i64 {
        self.meta.get(&name.to_owned()).copied().unwrap_or(0)
    }
}

/// The cooperative host: the domain state, the deployed contracts, and the transaction
/// machinery. `Send + Sync`, so independent hosts can run on separate threads.
#[derive(Clone, Debug)]
pub struct CoopHost {
    /// The domain state.
    pub domain: Domain,
    contracts: BTreeMap<String, Arc<Verified>>,
    /// Ids whose code changed since the store last wrote (deployed or upgraded).
    new_code: BTreeSet<String>,
    savepoints: Vec<[usize; TABLES]>,
    /// Contracts currently running: the outermost first (for `callcontract`).
    active: Vec<contracts::Active>,
    limits: Limits,
    /// Committed events not yet taken by the store (all events, for an in-memory host).
    events: Vec<Event>,
    /// Number of events committed before `events[0]`.
    events_base: u64,
}

impl CoopHost {
    /// An empty world.
    pub fn new() -> Self {
        CoopHost {
            domain: Domain::default(),
            contracts: BTreeMap::new(),
            new_code: BTreeSet::new(),
            savepoints: Vec::new(),
            active: Vec::new(),
            limits: Limits::default(),
            events: Vec::new(),
            events_base: 0,
        }
    }

    /// The limits deployed contracts are verified with.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The cooperative `name`.
    pub fn cooperative(&self, name: &str) -> Option<&Cooperative> {
        self.domain.cooperatives.get(&name.to_owned())
    }

    /// The membership record of `did` in `coop`.
    pub fn member(&self, coop: &str, did: &str) -> Option<&Member> {
        self.domain.members.get(&(coop.to_owned(), did.to_owned()))
    }

    /// The federation `name`.
    pub fn federation(&self, name: &str) -> Option<&Federation> {
        self.domain.federations.get(&name.to_owned())
    }

    /// The proposal `id`.
    pub fn proposal(&self, id: i64) -> Option<&Proposal> {
        self.domain.proposals.get(&id)
    }

    /// The reputation score of `did` (0 if never rated). This, not the context's
    /// `reputation_score`, is what contracts' `.reputation` is checked against.
    pub fn reputation(&self, did: &str) -> i64 {
        self.domain
            .reputations
            .get(&did.to_owned())
            .copied()
            .unwrap_or(0)
    }

    /// Sets the reputation of `did` outside any run, for building a world (tests, or a
    /// throw-away world for a what-if run such as `coopvm run --reputation` without a
    /// database). Refused outside [`reputation::MIN_SCORE`]..=[`reputation::MAX_SCORE`].
    pub fn set_reputation(&mut self, did: &str, score: i64) -> Result<(), String> {
        let range = reputation::MIN_SCORE..=reputation::MAX_SCORE;
        if !range.contains(&score) {
            return Err(format!(
                "a reputation score is within {}..={}, not {score}",
                range.start(),
                range.end()
            ));
        }
        self.domain.reputations.put_committed(did.to_owned(), score);
        Ok(())
    }

    /// The registry entry of `did`.
    pub fn did(&self, did: &str) -> Option<&DidRecord> {
        self.domain.dids.get(&did.to_owned())
    }

    /// The stored key-value state of contract `id`.
    pub fn contract_state(&self, id: &str) -> Option<&State> {
        self.domain.contract_states.get(&id.to_owned())
    }

    /// Committed events held in memory (for an in-memory host: every event since it was
    /// created; the store drains them when it writes).
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Total number of events ever committed (including those already written by the store).
    pub fn event_count(&self) -> u64 {
        self.events_base + self.events.len() as u64
    }

    /// Number of successful runs so far.
    pub fn runs(&self) -> i64 {
        self.domain.counter("runs")
    }

    /// Takes the events not yet written, with the sequence number of the first.
    pub(crate) fn take_events(&mut self) -> (u64, Vec<Event>) {
        let base = self.events_base;
        let events = std::mem::take(&mut self.events);
        self.events_base += events.len() as u64;
        (base, events)
    }

    pub(crate) fn set_event_base(&mut self, base: u64) {
        self.events_base = base;
    }

    /// Forgets the world's history as a store does once it has written it, and returns the
    /// committed events it held: the event log empties ([`CoopHost::event_count`] keeps
    /// counting them), every table's dirty keys and the list of newly deployed code are
    /// cleared. The world itself (every table's entries, the deployed code) is unchanged.
    ///
    /// For a world built once and then the starting point of many runs (tests, fuzzing):
    /// afterwards a run's host shows only that run's events and changed keys, and
    /// [`CoopHost::reset_to`] it compares less. Call it between runs, not during one.
    ///
    /// ```
    /// use coopvm_core::{asm::assemble, verify, ExecutionContext, Limits};
    /// use coopvm_domain::CoopHost;
    /// use coopvm_engine::Engine;
    ///
    /// let mut host = CoopHost::new();
    /// let v = verify(assemble("c.casm", ".contract c\npush \"makers\"\npush 10\ncreatecooperative\n")?, &Limits::default())?;
    /// let ctx = ExecutionContext { caller_did: "did:key:alice".into(), ..Default::default() };
    /// assert!(host.execute(&v, &ctx, 10_000, &Engine::Interp).is_ok());
    /// let events = host.mark_written();
    /// assert_eq!(events[0].name, "CooperativeCreated");
    /// assert!(host.events().is_empty());
    /// assert_eq!(host.event_count(), events.len() as u64);
    /// assert!(host.cooperative("makers").is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mark_written(&mut self) -> Vec<Event> {
        self.new_code.clear();
        for j in self.domain.journals_mut() {
            j.take_dirty();
        }
        self.take_events().1
    }

    /// Whether a run is in progress (between `begin` and its `commit`/`rollback`).
    pub fn in_transaction(&self) -> bool {
        !self.savepoints.is_empty()
    }

    /// Makes this host equal to `base` again, as `*self = base.clone()` would, but copying
    /// only what differs: a host that ran a few operations from `base` (a test or fuzz run
    /// from a fixed world) is reset in time proportional to the world's size, without
    /// rebuilding its maps. Deployed code is shared with `base` (the same `Arc`s).
    ///
    /// ```
    /// use coopvm_core::{asm::assemble, verify, ExecutionContext, Limits};
    /// use coopvm_domain::CoopHost;
    /// use coopvm_engine::Engine;
    ///
    /// let base = CoopHost::new();
    /// let mut host = base.clone();
    /// let v = verify(assemble("c.casm", ".contract c\npush \"makers\"\npush 10\ncreatecooperative\n")?, &Limits::default())?;
    /// let ctx = ExecutionContext { caller_did: "did:key:alice".into(), ..Default::default() };
    /// assert!(host.execute(&v, &ctx, 10_000, &Engine::Interp).is_ok());
    /// assert!(host.cooperative("makers").is_some());
    /// host.reset_to(&base);
    /// assert!(host.cooperative("makers").is_none());
    /// assert_eq!(format!("{host:?}"), format!("{base:?}"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset_to(&mut self, base: &CoopHost) {
        self.reset_with(base, Domain::reset_to);
    }

    /// [`CoopHost::reset_to`] for a host that equalled `base` (a clone, or reset) and has
    /// since only run contracts and host operations: each table is restored in time
    /// proportional to the keys the run changed, not to the world's size (see
    /// [`Table::reset_changes_to`]: when `base` has no history, after
    /// [`CoopHost::mark_written`]; otherwise, or after direct changes to the tables, use
    /// `reset_to`). Debug builds check every table against `base`.
    ///
    /// ```
    /// use coopvm_core::{asm::assemble, verify, ExecutionContext, Limits};
    /// use coopvm_domain::CoopHost;
    /// use coopvm_engine::Engine;
    ///
    /// let mut base = CoopHost::new();
    /// base.mark_written();
    /// let mut host = base.clone();
    /// let v = verify(assemble("c.casm", ".contract c\npush \"makers\"\npush 10\ncreatecooperative\n")?, &Limits::default())?;
    /// let ctx = ExecutionContext { caller_did: "did:key:alice".into(), ..Default::default() };
    /// assert!(host.execute(&v, &ctx, 10_000, &Engine::Interp).is_ok());
    /// assert!(host.cooperative("makers").is_some());
    /// host.reset_changes_to(&base);
    /// assert!(host.cooperative("makers").is_none());
    /// assert_eq!(format!("{host:?}"), format!("{base:?}"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset_changes_to(&mut self, base: &CoopHost) {
        self.reset_with(base, Domain::reset_changes_to);
    }

    /// Makes this host equal to `base`, its tables by `reset_domain` (the full comparison of
    /// [`Domain::reset_to`] or the journal's [`Domain::reset_changes_to`]), the rest alike.
    fn reset_with(&mut self, base: &CoopHost, reset_domain: fn(&mut Domain, &Domain)) {
        let CoopHost {
            domain,
            contracts,
            new_code,
            savepoints,
            active,
            limits,
            events,
            events_base,
        } = self;
        reset_domain(domain, &base.domain);
        table::restore_map(contracts, &base.contracts, Arc::ptr_eq);
        if *new_code != base.new_code {
            new_code.clone_from(&base.new_code);
        }
        savepoints.clone_from(&base.savepoints);
        active.clone_from(&base.active);
        limits.clone_from(&base.limits);
        // Events are only appended: drop the new ones, else copy.
        let n = base.events.len();
        if events.len() >= n && events[..n] == base.events[..] {
            events.truncate(n);
        } else {
            events.clone_from(&base.events);
        }
        *events_base = base.events_base;
    }

    fn marks(&self) -> [usize; TABLES] {
        self.domain.journals().map(|j| j.mark())
    }
}

impl Default for CoopHost {
    fn default() -> Self {
        CoopHost::new()
    }
}

pub(crate) fn fail<T>(kind: ErrorKind, message: impl Into<String>) -> VmResult<T> {
    Err(VmError::new(kind, message))
}

/// Checks a cooperative, federation or proposal name: 1 to [`MAX_NAME_LEN`] bytes.
pub(crate) fn check_name(what: &str, name: &str) -> VmResult<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return fail(
            ErrorKind::InvalidArgument,
            format!(
                "a {what} must have 1 to {MAX_NAME_LEN} bytes, not {}",
                name.len()
            ),
        );
    }
    Ok(())
}

/// The caller's DID, checked for W3C DID syntax.
pub(crate) fn caller<'c>(cx: &'c HostCx) -> VmResult<&'c str> {
    let did = cx.ctx.caller_did.as_str();
    identity::check_did(did)?;
    Ok(did)
}

fn key(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

impl Host for CoopHost {
    fn begin(&mut self) {
        let marks = self.marks();
        self.savepoints.push(marks);
    }

    fn commit(&mut self) {
        self.savepoints.pop();
        if self.savepoints.is_empty() {
            for j in self.domain.journals_mut() {
                j.settle();
            }
        }
    }

    fn rollback(&mut self) {
        if let Some(marks) = self.savepoints.pop() {
            for (j, mark) in self.domain.journals_mut().into_iter().zip(marks) {
                j.undo_to(mark);
            }
        }
    }

    fn create_cooperative(&mut self, cx: &mut HostCx, name: &str, pool: i64) -> VmResult<()> {
        self.domain.create_cooperative(cx, name, pool)
    }
    fn join_cooperative(&mut self, cx: &mut HostCx, coop: &str) -> VmResult<()> {
        self.domain.join_cooperative(cx, coop)
    }
    fn leave_cooperative(&mut self, cx: &mut HostCx, coop: &str) -> VmResult<()> {
        self.domain.leave_cooperative(cx, coop)
    }
    fn allocate_resource(
        &mut self,
        cx: &mut HostCx,
        coop: &str,
        member: &str,
        amount: i64,
    ) -> VmResult<()> {
        self.domain.allocate_resource(cx, coop, member, amount)
    }
    fn transfer_resource(
        &mut self,
        cx: &mut HostCx,
        coop: &str,
        to: &str,
        amount: i64,
    ) -> VmResult<()> {
        self.domain.transfer_resource(cx, coop, to, amount)
    }
    fn get_balance(&mut self, _: &mut HostCx, coop: &str, member: &str) -> VmResult<i64> {
        self.domain.get_balance(coop, member)
    }
    fn get_pool(&mut self, _: &mut HostCx, coop: &str) -> VmResult<i64> {
        self.domain.get_pool(coop)
    }
    fn is_member(&mut self, _: &mut HostCx, coop: &str, did: &str) -> VmResult<bool> {
        self.domain.is_member(coop, did)
    }
    fn in_federation(&mut self, _: &mut HostCx, federation: &str, coop: &str) -> VmResult<bool> {
        self.domain.in_federation(federation, coop)
    }
    fn federation_size(&mut self, _: &mut HostCx, federation: &str) -> VmResult<i64> {
        self.domain.federation_size(federation)
    }
    fn federation_member(
        &mut self,
        cx: &mut HostCx,
        federation: &str,
        index: i64,
    ) -> VmResult<String> {
        self.domain.federation_member(cx, federation, index)
    }
    fn proposal_state(&mut self, cx: &mut HostCx, id: i64) -> VmResult<i64> {
        self.domain.proposal_state(cx, id)
    }
    fn proposal_tally(&mut self, _: &mut HostCx, id: i64, choice: i64) -> VmResult<i64> {
        self.domain.proposal_tally(id, choice)
    }
    fn has_voted(&mut self, _: &mut HostCx, id: i64, did: &str) -> VmResult<bool> {
        self.domain.has_voted(id, did)
    }
    fn did_registered(&mut self, _: &mut HostCx, did: &str) -> VmResult<bool> {
        self.domain.did_registered(did)
    }
    fn did_controller(&mut self, _: &mut HostCx, did: &str) -> VmResult<String> {
        self.domain.did_controller(did)
    }
    fn create_federation(&mut self, cx: &mut HostCx, name: &str, coop: &str) -> VmResult<()> {
        self.domain.create_federation(cx, name, coop)
    }
    fn join_federation(&mut self, cx: &mut HostCx, federation: &str, coop: &str) -> VmResult<()> {
        self.domain.join_federation(cx, federation, coop)
    }
    fn create_proposal(
        &mut self,
        cx: &mut HostCx,
        coop: &str,
        title: &str,
        quorum: i64,
        deadline: i64,
    ) -> VmResult<i64> {
        self.domain
            .create_proposal(cx, coop, title, quorum, deadline)
    }
    fn cast_vote(&mut self, cx: &mut HostCx, id: i64, choice: i64) -> VmResult<()> {
        self.domain.cast_vote(cx, id, choice)
    }
    fn delegate_votes(&mut self, cx: &mut HostCx, coop: &str, delegate: &str) -> VmResult<()> {
        self.domain.delegate_votes(cx, coop, delegate)
    }
    fn execute_proposal(&mut self, cx: &mut HostCx, id: i64) -> VmResult<bool> {
        self.domain.execute_proposal(cx, id)
    }
    fn update_quorum(&mut self, cx: &mut HostCx, id: i64, quorum: i64) -> VmResult<()> {
        self.domain.update_quorum(cx, id, quorum)
    }
    fn update_reputation(&mut self, cx: &mut HostCx, did: &str, delta: i64) -> VmResult<()> {
        self.domain.update_reputation(cx, did, delta)
    }
    fn get_reputation(&mut self, cx: &mut HostCx, did: &str) -> VmResult<i64> {
        self.domain.get_reputation(cx, did)
    }
    fn verify_did(
        &mut self,
        cx: &mut HostCx,
        did: &str,
        payload: &str,
        signature: &str,
    ) -> VmResult<bool> {
        self.domain.verify_did(cx, did, payload, signature)
    }
    fn update_did_document(&mut self, cx: &mut HostCx, did: &str, document: &str) -> VmResult<()> {
        self.domain.update_did_document(cx, did, document)
    }
    fn call_contract(&mut self, cx: &mut HostCx, contract: &str, arg: i64) -> VmResult<i64> {
        self.call(cx, contract, arg)
    }
}

#[cfg(test)]
pub(crate) mod testkit;

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    /// A table's name and a change to it.
    type Change = (&'static str, fn(&mut Domain, i64));

    /// One change to each table, in the order of [`Domain::journals`]: `n` picks the key or
    /// value, so two calls with different `n` make different entries.
    fn changes() -> [Change; TABLES] {
        fn s(n: i64) -> String {
            format!("k{n}")
        }
        [
            ("cooperatives", |d, n| {
                d.cooperatives.insert(
                    s(n),
                    Cooperative {
                        creator: "did:key:a".into(),
                        supply: n,
                        pool: n,
                        members: 1,
                        created_block: 0,
                    },
                )
            }),
            ("members", |d, n| {
                d.members.insert(
                    (s(n), "did:key:a".into()),
                    Member {
                        balance: n,
                        joined_block: 0,
                    },
                )
            }),
            ("federations", |d, n| {
                d.federations.insert(
                    s(n),
                    Federation {
                        creator: "did:key:a".into(),
                        founder: s(n),
                        members: 1,
                    },
                )
            }),
            ("federation_members", |d, n| {
                d.federation_members.insert(
                    (s(n), s(n)),
                    FederationMember {
                        added_by: "did:key:a".into(),
                        block: 0,
                    },
                )
            }),
            ("proposals", |d, n| {
                d.proposals.insert(
                    n,
                    Proposal {
                        cooperative: s(n),
                        title: "t".into(),
                        creator: "did:key:a".into(),
                        quorum: 1,
                        deadline: 10,
                        yes: 0,
                        no: 0,
                        executed: false,
                        passed: false,
                    },
                )
            }),
            ("ballots", |d, n| {
                d.ballots.insert(
                    (n, "did:key:a".into()),
                    Ballot {
                        by: "did:key:a".into(),
                        yes: true,
                    },
                )
            }),
            ("delegations", |d, n| {
                d.delegations
                    .insert((s(n), "did:key:a".into()), "did:key:b".into())
            }),
            ("reputations", |d, n| d.reputations.insert(s(n), n)),
            ("dids", |d, n| {
                d.dids.insert(
                    s(n),
                    DidRecord {
                        controller: "did:key:a".into(),
                        document: String::new(),
                        version: 1,
                    },
                )
            }),
            ("contract_states", |d, n| {
                d.contract_states
                    .insert(s(n), State::from([("x".into(), n)]))
            }),
            ("meta", |d, n| d.meta.insert(s(n), n)),
            ("deployments", |d, n| {
                d.deployments.insert(
                    s(n),
                    Deployment {
                        owner: "did:key:a".into(),
                        code_hash: s(n),
                        revision: 1,
                        previous: Vec::new(),
                    },
                )
            }),
        ]
    }

    /// Two hosts whose worlds differ in any one table, by an entry or by the undo log only,
    /// compare unequal, as their `Debug` text does; hosts that went through the same changes
    /// compare equal. (The differential check compares hosts' worlds this way.)
    #[test]
    fn hosts_differing_in_any_one_table_compare_unequal() {
        let changes = changes();
        let names: Vec<&str> = Domain::default().journals().map(|j| j.name()).to_vec();
        assert_eq!(
            names,
            changes.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
            "one change per table, in order"
        );
        let mut base = CoopHost::new();
        for (_, change) in &changes {
            change(&mut base.domain, 1);
        }
        for j in base.domain.journals_mut() {
            j.settle();
        }
        let text = |h: &CoopHost| format!("{:?}", h.domain);
        for (i, (name, change)) in changes.iter().enumerate() {
            // Another entry in table `i` only.
            let mut other = base.clone();
            change(&mut other.domain, 2);
            assert_ne!(other.domain, base.domain, "an entry more in {name}");
            assert_ne!(text(&other), text(&base), "{name}: the text differs too");
            // The same entries, but the change logged (not settled) in table `i` only.
            let mut logged = base.clone();
            change(&mut logged.domain, 1);
            assert_eq!(
                logged.domain.journals()[i].mark(),
                1,
                "{name} logged the change"
            );
            assert_ne!(logged.domain, base.domain, "the undo log of {name}");
            assert_ne!(text(&logged), text(&base), "{name}: the text differs too");
            // The change settled too: the same world.
            logged.domain.journals_mut()[i].settle();
            assert_eq!(logged.domain, base.domain, "{name} settled");
            assert_eq!(text(&logged), text(&base));
        }
    }

    /// `reset_changes_to` restores every table a run changed through the journal (inserted,
    /// changed, settled, undone, left in an open transaction), to a base with no history.
    #[test]
    fn reset_changes_to_restores_journaled_changes() {
        let changes = changes();
        let mut base = CoopHost::new();
        for (_, change) in &changes {
            change(&mut base.domain, 1);
            change(&mut base.domain, 3);
        }
        base.mark_written();
        let text = |h: &CoopHost| format!("{h:?}");
        for (i, (name, change)) in changes.iter().enumerate() {
            let mut host = base.clone();
            change(&mut host.domain, 2);
            change(&mut host.domain, 3);
            host.domain.journals_mut()[i].settle();
            change(&mut host.domain, 4);
            host.begin();
            change(&mut host.domain, 1);
            let m = host.domain.journals_mut()[i].mark();
            change(&mut host.domain, 5);
            host.domain.journals_mut()[i].undo_to(m);
            assert_ne!(text(&host), text(&base), "{name} changed");
            host.reset_changes_to(&base);
            assert_eq!(text(&host), text(&base), "{name} reset");
            host.reset_changes_to(&base);
            assert_eq!(text(&host), text(&base), "{name} reset twice");
        }
    }

    /// `reset_to` restores every part of a host, whatever a run or a direct change did to
    /// it: each table's entries (changed, added, removed), undo log and dirty keys, deployed
    /// code, events and open savepoints; the result shows the same text (every field) as the
    /// base, and a reset host is reset again without change.
    #[test]
    fn reset_to_restores_every_part_of_a_host() {
        let changes = changes();
        let mut base = CoopHost::new();
        for (_, change) in &changes {
            change(&mut base.domain, 1);
            change(&mut base.domain, 3);
        }
        for j in base.domain.journals_mut() {
            j.settle();
        }
        base.events.push(Event {
            name: "e".into(),
            source: coopvm_core::EventSource::Contract,
            contract: "c".into(),
            caller: "did:key:a".into(),
            block: 1,
            fields: BTreeMap::new(),
        });
        let text = |h: &CoopHost| format!("{h:?}");
        for (i, (name, change)) in changes.iter().enumerate() {
            let mut host = base.clone();
            change(&mut host.domain, 2);
            host.domain.journals_mut()[i].settle();
            change(&mut host.domain, 4);
            host.begin();
            host.domain.journals_mut()[i].undo_to(0);
            host.domain.journals_mut()[i].clear();
            assert_ne!(text(&host), text(&base), "{name} changed");
            host.reset_to(&base);
            assert_eq!(text(&host), text(&base), "{name} reset");
            host.reset_to(&base);
            assert_eq!(text(&host), text(&base), "{name} reset twice");
        }
        // Events added or replaced, code deployed, the limits changed.
        let mut host = base.clone();
        host.events.push(base.events[0].clone());
        host.reset_to(&base);
        assert_eq!(text(&host), text(&base), "an event more");
        host.events.clear();
        host.events_base = 7;
        host.reset_to(&base);
        assert_eq!(text(&host), text(&base), "events removed");
        let v = coopvm_core::verify(
            coopvm_core::asm::assemble("c.casm", ".contract c\npush 1\nhalt\n").unwrap(),
            &Limits::default(),
        )
        .unwrap();
        host.deploy(v, "did:key:alice").unwrap();
        host.limits.stack = 3;
        host.begin();
        assert_ne!(text(&host), text(&base));
        host.reset_to(&base);
        assert_eq!(text(&host), text(&base), "code deployed");
    }
}

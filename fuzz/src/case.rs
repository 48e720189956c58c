//! A differential case: a contract's assembly, the inputs, limits, caller and host it runs
//! with, and the check that every engine gives the same outcome for it at every gas limit.
//!
//! This module depends on `coopvm` and the standard library only: the fuzz targets use it,
//! and the integration tests include the same file (`tests/integration/regressions.rs`) to
//! replay saved cases, so a saved crash is replayed by exactly the code that found it.
//!
//! A case is saved as readable assembly: header comments (`; host:`, `; args:`, `; limits:`,
//! `; ctx:`, `; gas:`) followed by the program. [`Case::to_casm`] writes it and
//! [`Case::from_casm`] reads it back.

use coopvm::domain::CoopHost;
use coopvm::error::{ErrorKind, VmError, VmResult};
use coopvm::host::HostCx;
use coopvm::{asm::assemble, verify, Arg, Engine, ExecutionContext, Host, Limits, Outcome};
use coopvm::{RunParams, Verified};
use std::cell::RefCell;
use std::fmt;
use std::sync::OnceLock;

/// Which host a case runs against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKind {
    /// The cooperative host, starting from [`base_world`].
    Coop,
    /// The cooperative host behind [`FailingHost`]: every host operation first charges
    /// `charge` gas; the first `after` operations are served, every later one fails with
    /// `kind`.
    Failing {
        /// The error kind of the failures.
        kind: ErrorKind,
        /// How many operations succeed first.
        after: u32,
        /// Extra gas every operation charges.
        charge: u64,
    },
}

/// One differential case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// The contract's assembly (directives included).
    pub source: String,
    /// The run's inputs.
    pub args: Vec<Arg>,
    /// The limits the contract is verified with.
    pub limits: Limits,
    /// The host.
    pub host: HostKind,
    /// Caller, time, block, permissions.
    pub ctx: ExecutionContext,
    /// The gas limit of the reference run.
    pub gas: u64,
}

/// The first line of a saved case.
const CASE_TITLE: &str = "; coopvm differential case";

/// What [`check`] ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// Runs per engine (one per gas limit tried); 0 when the case did not verify.
    pub runs: u64,
    /// Gas used by the reference run.
    pub gas_used: u64,
    /// The reference run's error kind, if it failed.
    pub error: Option<ErrorKind>,
}

/// A library contract every world holds: doubles its argument and counts its calls.
pub const DOUBLER: &str = ".contract doubler\n.state calls 0\nload calls\npush 1\nadd\n\
store calls\nload arg\npush 2\nmul\nhalt\n";

/// A library contract every world holds: counts its argument down to zero (spending gas, and
/// forever for a negative argument, so a nested run ends with `out_of_gas`), then divides 100
/// by the argument (`division_by_zero` for 0).
pub const SPENDER: &str = ".contract spender\nload arg\ntop:\ndup\njumpif more\npop\npush 100\n\
load arg\ndiv\nhalt\nmore:\npush 1\nsub\njump top\n";

/// The steps that build [`base_world`]: (source, caller).
const WORLD: &[(&str, &str)] = &[
    (
        ".contract found\npush \"makers\"\npush 1000\ncreatecooperative\n\
         push \"makers\"\npush \"kiln\"\npush 2\npush 50\ncreateproposal\npop\n\
         push \"fed\"\npush \"makers\"\ncreatefederation\n",
        "did:key:alice",
    ),
    (
        ".contract join\npush \"makers\"\njoincooperative\n",
        "did:key:bob",
    ),
    (
        ".contract join\npush \"makers\"\njoincooperative\n",
        "did:key:carol",
    ),
    (
        ".contract give\npush \"makers\"\npush \"did:key:bob\"\npush 100\nallocateresource\n\
         push \"did:key:bob\"\npush 20\nupdatereputation\n",
        "did:key:alice",
    ),
    (".contract vote\npush 1\npush 1\ncastvote\n", "did:key:bob"),
];

/// The world every `Coop` case starts from: a cooperative `makers` (alice created it; bob
/// and carol joined; bob holds 100 units and 20 reputation), a federation `fed`, proposal 1
/// (quorum 2, deadline 50, one yes vote) and the libraries `doubler` and `spender`. Built
/// once, on the interpreter, then marked written ([`CoopHost::mark_written`]: no events, no
/// dirty keys); every run starts from a copy ([`fresh_world`]).
pub fn base_world() -> &'static CoopHost {
    static WORLD_HOST: OnceLock<CoopHost> = OnceLock::new();
    WORLD_HOST.get_or_init(|| {
        let mut host = CoopHost::new();
        for lib in [DOUBLER, SPENDER] {
            let v = verify(
                assemble("lib.casm", lib).expect("the libraries assemble"),
                &Limits::default(),
            )
            .expect("the libraries verify");
            host.deploy(v, "did:key:alice")
                .expect("the libraries deploy");
        }
        for (i, (src, caller)) in WORLD.iter().enumerate() {
            let v = verify(
                assemble("world.casm", src).expect("the world's steps assemble"),
                &Limits::default(),
            )
            .expect("the world's steps verify");
            let ctx = ExecutionContext {
                caller_did: (*caller).into(),
                timestamp: i as u64,
                permissions: vec!["reputation".into()],
                ..ExecutionContext::default()
            };
            let out = host.execute(&v, &ctx, 100_000, &Engine::Interp);
            assert!(out.is_ok(), "world step {i}: {:?}", out.result);
        }
        // The world's history (the steps' events, the dirty keys) is the same for every run:
        // forgotten, so that runs show only their own and resetting a world compares less.
        host.mark_written();
        host
    })
}

thread_local! {
    /// Hosts equal to [`base_world`], kept for the next runs ([`fresh_world`], [`recycle`]).
    static SPARE_WORLDS: RefCell<Vec<CoopHost>> = const { RefCell::new(Vec::new()) };
}

/// How many spare worlds a thread keeps: a check holds at most four hosts at once (the
/// reference run's, the interpreter's and one per other engine).
const MAX_SPARE_WORLDS: usize = 8;

/// A host equal to [`base_world`] for one run: a spare one when a finished run left one
/// ([`recycle`]), else a clone.
pub fn fresh_world() -> CoopHost {
    SPARE_WORLDS
        .try_with(|spare| spare.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| base_world().clone())
}

/// Takes back a host a run is done with: resets it to [`base_world`] and keeps it. The host
/// was a copy of the base world changed only by the run, so the keys its tables' journals
/// name are all that differ ([`CoopHost::reset_changes_to`]: time proportional to what the
/// run changed, not to the world's size).
pub fn recycle(mut host: CoopHost) {
    host.reset_changes_to(base_world());
    let _ = SPARE_WORLDS.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < MAX_SPARE_WORLDS {
            spare.push(host);
        }
    });
}

/// The spare worlds this thread holds, as text (for a test that they equal the base world).
pub fn spare_worlds_text() -> Vec<String> {
    SPARE_WORLDS.with(|spare| spare.borrow().iter().map(|h| format!("{h:?}")).collect())
}

/// The cooperative host behind a meter and a failure switch (see [`HostKind::Failing`]).
#[derive(Clone, Debug)]
pub struct FailingHost {
    /// The host that serves the operations that succeed.
    pub inner: CoopHost,
    /// The kind of the failures.
    pub kind: ErrorKind,
    /// How many operations succeed.
    pub after: u32,
    /// Gas charged by every operation.
    pub charge: u64,
    /// Operations attempted so far.
    pub calls: u32,
}

impl FailingHost {
    fn gate(&mut self, cx: &mut HostCx, op: &str) -> VmResult<()> {
        cx.charge(self.charge);
        self.calls = self.calls.saturating_add(1);
        if self.calls > self.after {
            return Err(VmError::new(
                self.kind,
                format!(
                    "{op}: refused by the failing host after {} calls",
                    self.after
                ),
            ));
        }
        Ok(())
    }
}

macro_rules! failing_host {
    ($( fn $method:ident($($arg:ident: $ty:ty),*) -> $ret:ty; )*) => {
        impl Host for FailingHost {
            fn begin(&mut self) {
                Host::begin(&mut self.inner);
            }
            fn commit(&mut self) {
                Host::commit(&mut self.inner);
            }
            fn rollback(&mut self) {
                Host::rollback(&mut self.inner);
            }
            $(
                fn $method(&mut self, cx: &mut HostCx, $($arg: $ty),*) -> VmResult<$ret> {
                    self.gate(cx, stringify!($method))?;
                    Host::$method(&mut self.inner, cx, $($arg),*)
                }
            )*
        }
    };
}

failing_host! {
    fn create_cooperative(name: &str, pool: i64) -> ();
    fn join_cooperative(coop: &str) -> ();
    fn leave_cooperative(coop: &str) -> ();
    fn allocate_resource(coop: &str, member: &str, amount: i64) -> ();
    fn transfer_resource(coop: &str, to: &str, amount: i64) -> ();
    fn get_balance(coop: &str, member: &str) -> i64;
    fn get_pool(coop: &str) -> i64;
    fn is_member(coop: &str, did: &str) -> bool;
    fn create_federation(name: &str, coop: &str) -> ();
    fn join_federation(federation: &str, coop: &str) -> ();
    fn in_federation(federation: &str, coop: &str) -> bool;
    fn federation_size(federation: &str) -> i64;
    fn federation_member(federation: &str, index: i64) -> String;
    fn create_proposal(coop: &str, title: &str, quorum: i64, deadline: i64) -> i64;
    fn cast_vote(id: i64, choice: i64) -> ();
    fn delegate_votes(coop: &str, delegate: &str) -> ();
    fn execute_proposal(id: i64) -> bool;
    fn update_quorum(id: i64, quorum: i64) -> ();
    fn proposal_state(id: i64) -> i64;
    fn proposal_tally(id: i64, choice: i64) -> i64;
    fn has_voted(id: i64, did: &str) -> bool;
    fn update_reputation(did: &str, delta: i64) -> ();
    fn get_reputation(did: &str) -> i64;
    fn verify_did(did: &str, payload: &str, signature: &str) -> bool;
    fn update_did_document(did: &str, document: &str) -> ();
    fn did_registered(did: &str) -> bool;
    fn did_controller(did: &str) -> String;
    fn call_contract(contract: &str, arg: i64) -> i64;
}

/// Everything a run is compared on: the outcome, and the host's world afterwards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The run's outcome (status, stack, gas used, error kind, pc and message, state,
    /// events, logs, host calls).
    pub outcome: Outcome,
    /// The host afterwards.
    pub host: HostAfter,
}

/// A host after a run. Two are equal when their domain tables, committed events and (for a
/// failing host) call counts are, compared as values; its `Debug` text shows exactly those
/// (for reports). Dropped, it hands its world back for the next run ([`recycle`]).
#[derive(Clone)]
pub enum HostAfter {
    /// The cooperative host.
    Coop(CoopHost),
    /// The failing host.
    Failing(FailingHost),
}

impl HostAfter {
    /// The host's world and, for a failing host, its call count.
    fn parts(&self) -> (&CoopHost, Option<u32>) {
        match self {
            HostAfter::Coop(host) => (host, None),
            HostAfter::Failing(host) => (&host.inner, Some(host.calls)),
        }
    }
}

impl Drop for HostAfter {
    fn drop(&mut self) {
        let world = match self {
            HostAfter::Coop(host) => host,
            HostAfter::Failing(host) => &mut host.inner,
        };
        recycle(std::mem::take(world));
    }
}

impl PartialEq for HostAfter {
    fn eq(&self, other: &HostAfter) -> bool {
        let ((a, calls_a), (b, calls_b)) = (self.parts(), other.parts());
        calls_a == calls_b && a.events() == b.events() && a.domain == b.domain
    }
}

impl Eq for HostAfter {}

impl fmt::Debug for HostAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (host, calls) = self.parts();
        let mut out = f.debug_struct("HostAfter");
        out.field("domain", &host.domain)
            .field("events", &host.events());
        if let Some(calls) = calls {
            out.field("calls", &calls);
        }
        out.finish()
    }
}

impl Case {
    /// Assembles and verifies the case's contract: `None` when it does not assemble or
    /// verify (not a divergence: both engines only ever see verified code).
    pub fn verified(&self) -> Option<Verified> {
        let contract = assemble("case.casm", &self.source).ok()?;
        verify(contract, &self.limits).ok()
    }

    /// Runs `v` on `engine` with gas limit `gas`, against a fresh copy of the case's host
    /// ([`fresh_world`]).
    pub fn run(&self, v: &Verified, engine: Engine, gas: u64) -> Observed {
        let world = fresh_world();
        match &self.host {
            HostKind::Coop => {
                let mut host = world;
                let (outcome, _) = host.execute_with(v, &self.ctx, |host, ctx, state| {
                    let params = RunParams::new(ctx, state, gas)
                        .with_calls(&engine)
                        .with_args(&self.args);
                    (engine.run_params(v, params, host), ())
                });
                Observed {
                    outcome,
                    host: HostAfter::Coop(host),
                }
            }
            HostKind::Failing {
                kind,
                after,
                charge,
            } => {
                let mut host = FailingHost {
                    inner: world,
                    kind: *kind,
                    after: *after,
                    charge: *charge,
                    calls: 0,
                };
                let state = v.contract().state.clone();
                let params = RunParams::new(&self.ctx, &state, gas)
                    .with_calls(&engine)
                    .with_args(&self.args);
                let outcome = engine.run_params(v, params, &mut host);
                Observed {
                    outcome,
                    host: HostAfter::Failing(host),
                }
            }
        }
    }

    /// Writes the case as readable assembly: the header lines, then the program.
    pub fn to_casm(&self) -> String {
        let mut out = format!("{CASE_TITLE}\n");
        match &self.host {
            HostKind::Coop => out.push_str("; host: coop\n"),
            HostKind::Failing {
                kind,
                after,
                charge,
            } => out.push_str(&format!(
                "; host: failing kind={} after={after} charge={charge}\n",
                kind.name()
            )),
        }
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| match a {
                Arg::Int(v) => v.to_string(),
                Arg::Str(s) => format!("s:{s}"),
            })
            .collect();
        out.push_str(&format!("; args: {}\n", args.join(", ")));
        let l = &self.limits;
        out.push_str(&format!(
            "; limits: stack={} call_depth={} memory_keys={} transient_keys={} code_len={}\n",
            l.stack, l.call_depth, l.memory_keys, l.transient_keys, l.code_len
        ));
        let c = &self.ctx;
        out.push_str(&format!(
            "; ctx: caller={} cooperative={} timestamp={} block={} reputation={} permissions={}\n",
            c.caller_did,
            c.cooperative_id,
            c.timestamp,
            c.block_number,
            c.reputation_score,
            c.permissions.join(",")
        ));
        out.push_str(&format!("; gas: {}\n", self.gas));
        out.push_str(&self.source);
        if !self.source.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    /// Reads a case written by [`Case::to_casm`] (the header lines may come in any order;
    /// missing ones take their defaults: the cooperative host, no inputs, default limits, an
    /// empty context, gas 1,000,000).
    pub fn from_casm(text: &str) -> Result<Case, String> {
        let mut case = Case {
            source: String::new(),
            args: Vec::new(),
            limits: Limits::default(),
            host: HostKind::Coop,
            ctx: ExecutionContext::default(),
            gas: 1_000_000,
        };
        let mut body = Vec::new();
        for line in text.lines() {
            if line == CASE_TITLE {
                continue;
            }
            let Some(header) = line.strip_prefix("; ").and_then(|l| l.split_once(": ")) else {
                body.push(line);
                continue;
            };
            let (name, value) = header;
            match name {
                "host" => case.host = parse_host(value)?,
                "args" => case.args = parse_args(value)?,
                "limits" => {
                    for (k, v) in pairs(value)? {
                        let n: u32 = v.parse().map_err(|e| format!("limit {k}={v}: {e}"))?;
                        match k {
                            "stack" => case.limits.stack = n,
                            "call_depth" => case.limits.call_depth = n,
                            "memory_keys" => case.limits.memory_keys = n,
                            "transient_keys" => case.limits.transient_keys = n,
                            "code_len" => case.limits.code_len = n,
                            _ => return Err(format!("unknown limit `{k}`")),
                        }
                    }
                }
                "ctx" => {
                    for (k, v) in pairs(value)? {
                        let num = || v.parse::<u64>().map_err(|e| format!("ctx {k}={v}: {e}"));
                        match k {
                            "caller" => case.ctx.caller_did = v.into(),
                            "cooperative" => case.ctx.cooperative_id = v.into(),
                            "timestamp" => case.ctx.timestamp = num()?,
                            "block" => case.ctx.block_number = num()?,
                            "reputation" => {
                                case.ctx.reputation_score =
                                    v.parse().map_err(|e| format!("ctx {k}={v}: {e}"))?
                            }
                            "permissions" => {
                                case.ctx.permissions = v
                                    .split(',')
                                    .filter(|p| !p.is_empty())
                                    .map(String::from)
                                    .collect()
                            }
                            _ => return Err(format!("unknown ctx field `{k}`")),
                        }
                    }
                }
                "gas" => {
                    case.gas = value
                        .trim()
                        .parse()
                        .map_err(|e| format!("gas {value}: {e}"))?
                }
                _ => body.push(line),
            }
        }
        case.source = body.join("\n");
        case.source.push('\n');
        Ok(case)
    }
}

/// `k=v` pairs separated by spaces (a value holds no space).
fn pairs(text: &str) -> Result<Vec<(&str, &str)>, String> {
    text.split_whitespace()
        .map(|p| p.split_once('=').ok_or_else(|| format!("`{p}` is not k=v")))
        .collect()
}

fn parse_host(value: &str) -> Result<HostKind, String> {
    let mut words = value.split_whitespace();
    match words.next() {
        Some("coop") => Ok(HostKind::Coop),
        Some("failing") => {
            let (mut kind, mut after, mut charge) = (ErrorKind::HostFailure, 0, 0);
            for (k, v) in pairs(&words.collect::<Vec<_>>().join(" "))? {
                match k {
                    "kind" => {
                        kind = ErrorKind::from_name(v).ok_or_else(|| format!("no kind {v}"))?
                    }
                    "after" => after = v.parse().map_err(|e| format!("after={v}: {e}"))?,
                    "charge" => charge = v.parse().map_err(|e| format!("charge={v}: {e}"))?,
                    _ => return Err(format!("unknown failing-host field `{k}`")),
                }
            }
            Ok(HostKind::Failing {
                kind,
                after,
                charge,
            })
        }
        _ => Err(format!("unknown host `{value}`")),
    }
}

fn parse_args(value: &str) -> Result<Vec<Arg>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| match a.strip_prefix("s:") {
            Some(s) => Ok(Arg::from(s)),
            None => a
                .parse()
                .map(Arg::Int)
                .map_err(|e| format!("input `{a}`: {e}")),
        })
        .collect()
}

/// Checks the case: see [`check_verified`].
pub fn check(case: &Case) -> Result<Checked, String> {
    match case.verified() {
        Some(v) => check_verified(case, &v),
        None => Ok(Checked::default()),
    }
}

/// Checks the case, for its verified contract `v` (the case's source is only used in
/// reports): every engine of [`Engine::ALL`] gives the interpreter's outcome and leaves the
/// host as the interpreter does, at the case's gas limit and at every limit of
/// [`coopvm_testgen::gas_limits`] up to the case's; and the interpreter keeps the gas laws: below the reference run's gas the
/// run ends with `out_of_gas` having used exactly the limit, and from it on the outcome is
/// the reference run's. Returns what it ran, or a report of the first disagreement with the
/// case as readable assembly.
pub fn check_verified(case: &Case, v: &Verified) -> Result<Checked, String> {
    let reference = compare(case, v, case.gas)?;
    let full = reference.outcome.gas_used;
    let mut runs = 1;
    for gas in coopvm_testgen::gas_limits(full, case.gas)
        .into_iter()
        .filter(|&g| g <= case.gas)
    {
        let got = compare(case, v, gas)?;
        runs += 1;
        let law = if gas < full {
            match &got.outcome.result {
                Err(e) if e.kind == ErrorKind::OutOfGas && got.outcome.gas_used == gas => None,
                _ => Some("below the reference run's gas, the run must end with out_of_gas having used exactly the limit"),
            }
        } else if same_but_gas_limit(&got, &reference) {
            None
        } else {
            Some("with at least the reference run's gas, the outcome must be the reference run's")
        };
        if let Some(law) = law {
            return Err(report(
                case,
                &format!(
                    "gas law broken at gas limit {gas} (reference: limit {}, used {full}): {law}\n--- at {gas} ---\n{:#?}\n--- reference ---\n{:#?}",
                    case.gas, got, reference
                ),
            ));
        }
    }
    Ok(Checked {
        runs,
        gas_used: full,
        error: reference.outcome.result.as_ref().err().map(|e| e.kind),
    })
}

/// Whether two runs are the same except where a message names the gas limit (a nested
/// run's `out_of_gas` reports the gas it was given): the hosts are compared in full, the
/// outcomes without the messages of their error and events.
fn same_but_gas_limit(a: &Observed, b: &Observed) -> bool {
    if a.host != b.host {
        return false;
    }
    if a.outcome == b.outcome {
        return true;
    }
    let strip = |o: &Outcome| {
        let mut o = o.clone();
        if let Err(e) = &mut o.result {
            e.message.clear();
        }
        for ev in &mut o.events {
            ev.fields.remove("message");
        }
        o
    };
    strip(&a.outcome) == strip(&b.outcome)
}

/// Every engine at `gas`, against the interpreter; returns the interpreter's run. Outcomes
/// and hosts are compared as values; a host is written as text only for a report.
fn compare(case: &Case, v: &Verified, gas: u64) -> Result<Observed, String> {
    let want = case.run(v, Engine::Interp, gas);
    for &engine in Engine::ALL {
        if engine == Engine::Interp {
            continue;
        }
        let got = case.run(v, engine, gas);
        if got != want {
            return Err(report(
                case,
                &format!(
                    "engines disagree at gas limit {gas}\n--- interp ---\n{want:#?}\n--- {} ---\n{got:#?}",
                    engine.name()
                ),
            ));
        }
    }
    Ok(want)
}

fn report(case: &Case, what: &str) -> String {
    format!("{what}\n--- case ---\n{}", case.to_casm())
}

//! Persistent state in a [redb](https://docs.rs/redb) database: deployed contracts and their
//! deployment records, every contract's key-value state, the cooperative domain and the event
//! log.
//!
//! A [`Store`] opens (or creates) the database, loads it into a [`CoopHost`], and after each
//! successful run (or deployment) writes what changed (contract code, deployment records,
//! contract states, domain entries, run counter, events) in **one** write transaction. A
//! failed run writes nothing. redb commits are atomic and durable (copy-on-write B-trees with
//! checksummed pages and commit slots; coopvm commits in two phases), so after a crash the
//! database holds exactly the runs whose commit completed.
//!
//! # A database never panics the node
//! Whatever the file holds, opening, loading, showing and running against it return `Ok` or a
//! [`StoreError`] (corruption is [`StoreError::Corrupt`], "state database is corrupted"):
//! - every open verifies the checksum of every page reachable from the last commit (redb's
//!   integrity check), so a file altered outside redb is refused before anything reads it, and
//!   a database that fails to open is never written to;
//! - keys and values are stored as raw bytes and decoded by coopvm (invalid UTF-8 or JSON is an
//!   error value), and lengths are checked before anything is allocated;
//! - anything the storage library might still do on corrupt data is contained: every call into
//!   redb runs under [`std::panic::catch_unwind`], a panic becomes [`StoreError::Corrupt`]
//!   (its message is kept, not printed), and the database handle involved is abandoned
//!   without being closed, so nothing more is written to it.
//!
//! To contain panics quietly the store installs, once, a panic hook that stays silent for
//! panics inside its own redb calls and hands every other panic to the hook that was
//! installed before it.
//!
//! # Showing state writes nothing
//! [`Store::open_read_only`] (what `coopvm state` uses) never writes to the file, which may be
//! read-only: it copies the file into memory under a shared lock (so no writer is half-way
//! through a commit), checks and, after a crash, recovers that copy in memory.
//!
//! # Layout (version [`FORMAT`])
//! Every key and value is raw bytes.
//!
//! | table | key | value |
//! |---|---|---|
//! | `coopvm` | `format` | layout version, 8 bytes big-endian |
//! | `contracts` | contract id (UTF-8) | the deployed code's canonical bytes (`coopvm_core::codec`) |
//! | `events` | sequence number from 0, 8 bytes big-endian | event as JSON |
//! | one per domain table (`cooperatives`, `members`, `federations`, `federation_members`, `proposals`, `ballots`, `delegations`, `reputations`, `dids`, `contract_states`, `meta`, `deployments`) | key as JSON | value as JSON |
//!
//! Every deployed contract has its code in `contracts` and its record ([`crate::Deployment`]:
//! owner, code hash, revision) in `deployments`; loading checks they agree. A database of
//! layout 1 (written before contract identity existed) is refused with
//! [`StoreError::Version`].
//!
//! ```
//! use coopvm_core::{load, ExecutionContext, Limits};
//! use coopvm_domain::store::Store;
//! use coopvm_engine::Engine;
//! # let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("state.redb");
//! let v = load::from_source("c.casm", ".contract c\n.state n 0\nload n\npush 1\nadd\ndup\nstore n\n")
//!     .unwrap().verify(&Limits::default()).unwrap();
//! let ctx = ExecutionContext { caller_did: "did:key:alice".into(), ..Default::default() };
//! for expected in 1..=2 {
//!     let mut store = Store::open(&path).unwrap();
//!     let out = store.execute(&v, &ctx, 1_000, &Engine::Interp).unwrap();
//!     assert_eq!(out.stack, vec![expected]);
//! }
//! // The first run deployed `c`, owned by its caller.
//! let shown = Store::open_read_only(&path).unwrap().dump().unwrap();
//! assert_eq!(shown["contracts"]["c"]["owner"], "did:key:alice");
//! ```

use crate::contracts::{DeployError, DeployOutcome};
use crate::table::Shape;
use crate::CoopHost;
use coopvm_core::codec;
use coopvm_core::{Event, ExecutionContext, Executor, Outcome, RunParams, State, Verified};
use redb::{
    Builder, Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    StorageBackend, TableDefinition, TableHandle,
};
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

type Raw = TableDefinition<'static, &'static [u8], &'static [u8]>;

mod guard;
mod layout;
mod snapshot;
use guard::{contain, db_err};
use layout::*;
use snapshot::*;

const INFO: Raw = TableDefinition::new("coopvm");
const CONTRACTS: Raw = TableDefinition::new("contracts");
const EVENTS: Raw = TableDefinition::new("events");
/// The table in which layout 1 kept its version.
const LEGACY_INFO: &str = "store_info";
const FORMAT_KEY: &[u8] = b"format";
/// The layout version this code writes and reads.
pub const FORMAT: u64 = 2;
/// How long [`Store::open`] waits for another process to release the database.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the state database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process kept the database open for longer than [`OPEN_TIMEOUT`].
    #[error("the state database {path} is in use by another process")]
    Busy {
        /// The database path.
        path: String,
    },
    /// The database could not be opened or created (a missing directory, no permission, a
    /// file that is not a redb database).
    #[error("cannot open the state database {path}: {source}")]
    Open {
        /// The database path.
        path: String,
        /// redb's error.
        source: redb::Error,
    },
    /// A read or write failed (I/O).
    #[error("state database error: {0}")]
    Db(redb::Error),
    /// A contract cannot be deployed or upgraded.
    #[error("{0}")]
    Deploy(#[from] DeployError),
    /// The database holds something that is not what coopvm wrote: a page whose checksum
    /// fails, undecodable keys or values, records that disagree, or data on which the storage
    /// library failed.
    #[error("state database is corrupted: {0}")]
    Corrupt(String),
    /// The database has another layout version.
    #[error("the state database {path} has layout version {found}, and this coopvm reads layout {FORMAT} only{}", if *.found < FORMAT { " (it was written by an earlier coopvm, before contracts had owners and code hashes; it is not converted: start a new database and deploy the contracts again)" } else { " (it was written by a newer coopvm)" })]
    Version {
        /// The database path.
        path: String,
        /// Its layout version.
        found: u64,
    },
    /// A redb database, but not a coopvm state database.
    #[error("{path} is a redb database but not a coopvm state database")]
    NotAStore {
        /// The database path.
        path: String,
    },
    /// A write to a store opened with [`Store::open_read_only`].
    #[error("the state database {path} is open read-only")]
    ReadOnly {
        /// The database path.
        path: String,
    },
    /// The store found its database corrupted earlier and closed it.
    #[error("the state database {path} was found corrupted and closed; open it again")]
    Closed {
        /// The database path.
        path: String,
    },
}

/// With the `test-hooks` feature, every store opened in a process whose environment sets this
/// variable aborts the process between writing and committing its first commit (see
/// [`Store::crash_before_commit`]): how the crash-safety tests crash the `coopvm` binary.
/// Builds without the feature (every shipped build) neither read nor know the variable.
#[cfg(feature = "test-hooks")]
const CRASH_BEFORE_COMMIT: &str = "COOPVM_CRASH_BEFORE_COMMIT";

/// An open state database and the world loaded from it.
pub struct Store {
    /// `None` once a panic was caught in redb: the handle was abandoned.
    db: Option<Database>,
    host: CoopHost,
    path: PathBuf,
    read_only: bool,
    #[cfg(any(test, feature = "test-hooks"))]
    crash_before_commit: bool,
    #[cfg(any(test, feature = "test-hooks"))]
    fail_next_commit: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Store {
    /// Opens the database at `path` for reading and writing, creating it if needed, checks
    /// it and loads it. Waits up to [`OPEN_TIMEOUT`] while another process has it open.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with_timeout(path, OPEN_TIMEOUT)
    }

    /// [`Store::open`], waiting at most `timeout` for another process to release the
    /// database.
    pub fn open_with_timeout(path: &Path, timeout: Duration) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        let open_err = |source: redb::Error| match source {
            redb::Error::Corrupted(m) => StoreError::Corrupt(format!(
                "{shown}: the integrity check on opening failed ({m})"
            )),
            source => StoreError::Open {
                path: shown.clone(),
                source,
            },
        };
        if !path.exists() {
            create_fresh(path).map_err(|e| match e {
                StoreError::Db(source) => open_err(source),
                other => other,
            })?;
        }
        let start = Instant::now();
        let db = loop {
            let opened = contain(&format!("opening {shown}"), || {
                Builder::new()
                    .set_check_integrity_on_open(true)
                    .create(path)
            })?;
            match opened {
                Ok(db) => break db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                    if start.elapsed() > timeout {
                        return Err(StoreError::Busy { path: shown });
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(open_err(e.into())),
            }
        };
        let mut store = Store {
            db: Some(db),
            host: CoopHost::new(),
            path: path.to_owned(),
            read_only: false,
            #[cfg(any(test, feature = "test-hooks"))]
            crash_before_commit: false,
            #[cfg(any(test, feature = "test-hooks"))]
            fail_next_commit: false,
        };
        #[cfg(feature = "test-hooks")]
        if std::env::var_os(CRASH_BEFORE_COMMIT).is_some() {
            store.crash_before_commit = true;
        }
        store.init()?;
        store.load()?;
        Ok(store)
    }

    /// Opens the database at `path` to read it, writing nothing to the file (which may be
    /// read-only): see the module docs. Waits up to [`OPEN_TIMEOUT`] while a writer has it
    /// open. Deploying or running on the store returns [`StoreError::ReadOnly`].
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        Store::open_read_only_with_timeout(path, OPEN_TIMEOUT)
    }

    /// [`Store::open_read_only`], waiting at most `timeout`.
    pub fn open_read_only_with_timeout(
        path: &Path,
        timeout: Duration,
    ) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        let bytes = read_locked(path, timeout)?;
        if bytes.is_empty() {
            return Err(StoreError::Open {
                path: shown,
                source: redb::Error::Io(std::io::Error::other("the file is empty")),
            });
        }
        let backend = Snapshot::new(bytes);
        let opened = contain(&format!("opening {shown}"), || {
            Builder::new()
                .set_check_integrity_on_open(true)
                .create_with_backend(backend)
        })?;
        let db = opened.map_err(|e| match e.into() {
            redb::Error::Corrupted(m) => StoreError::Corrupt(format!(
                "{shown}: the integrity check on opening failed ({m})"
            )),
            source => StoreError::Open {
                path: shown.clone(),
                source,
            },
        })?;
        let mut store = Store {
            db: Some(db),
            host: CoopHost::new(),
            path: path.to_owned(),
            read_only: true,
            #[cfg(any(test, feature = "test-hooks"))]
            crash_before_commit: false,
            #[cfg(any(test, feature = "test-hooks"))]
            fail_next_commit: false,
        };
        match store.layout()? {
            Layout::Current => {}
            Layout::Empty => {
                return Err(StoreError::NotAStore { path: shown });
            }
        }
        store.load()?;
        Ok(store)
    }

    /// Runs `f` on the database under [`contain`]; after a panic the handle is abandoned
    /// (never closed, so nothing more is written) and every later use fails.
    fn with_db<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Some(db) = self.db.as_ref() else {
            return Err(StoreError::Closed {
                path: self.path.display().to_string(),
            });
        };
        match contain(what, || f(db)) {
            Ok(result) => result,
            Err(e) => {
                if let Some(db) = self.db.take() {
                    std::mem::forget(db);
                }
                Err(e)
            }
        }
    }

    /// The layout of the open database.
    fn layout(&mut self) -> Result<Layout, StoreError> {
        let path = self.path.display().to_string();
        self.with_db("reading the layout", |db| {
            let txn = db.begin_read().map_err(db_err)?;
            layout_of(&txn, &path)
        })
    }

    /// Creates the tables of a database redb just initialized; checks the layout of any other.
    fn init(&mut self) -> Result<(), StoreError> {
        match self.layout()? {
            Layout::Current => Ok(()),
            Layout::Empty => self.with_db("creating the tables", init_tables),
        }
    }

    /// Replaces the in-memory world with what the database holds.
    fn load(&mut self) -> Result<(), StoreError> {
        let host = self.with_db("loading", load_host)?;
        self.host = host;
        Ok(())
    }

    /// The path of the database.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The world as loaded (and as changed by runs since).
    pub fn host(&self) -> &CoopHost {
        &self.host
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.path.display().to_string(),
            });
        }
        Ok(())
    }

    /// Deploys `verified` with `owner` as its owner ([`CoopHost::deploy`]) and writes it in
    /// one transaction.
    pub fn deploy(&mut self, verified: Verified, owner: &str) -> Result<DeployOutcome, StoreError> {
        self.writable()?;
        let outcome = self.host.deploy(verified, owner)?;
        if outcome != DeployOutcome::Unchanged {
            self.commit_host()?;
        }
        Ok(outcome)
    }

    /// Upgrades the deployed contract with `verified`'s id, as its owner `caller`
    /// ([`CoopHost::upgrade`]), and writes it in one transaction.
    pub fn upgrade(
        &mut self,
        verified: Verified,
        caller: &str,
    ) -> Result<DeployOutcome, StoreError> {
        self.writable()?;
        let outcome = self.host.upgrade(verified, caller)?;
        if outcome != DeployOutcome::Unchanged {
            self.commit_host()?;
        }
        Ok(outcome)
    }

    /// Writes what changed in the host; after a failed write, reloads it from the database
    /// so it never shows unwritten changes.
    fn commit_host(&mut self) -> Result<(), StoreError> {
        if let Err(e) = self.flush() {
            if self.db.is_some() {
                self.load()?;
            }
            return Err(e);
        }
        Ok(())
    }

    /// Runs `verified` against the stored world (see [`CoopHost::execute`]) and, if the run
    /// succeeds, writes everything it changed in one transaction. A failed run writes
    /// nothing. An `Err` means the run could not be written (or the store is read-only); the
    /// in-memory world is then reloaded from the database, so it never shows unwritten
    /// changes.
    pub fn execute(
        &mut self,
        verified: &Verified,
        ctx: &ExecutionContext,
        gas_limit: u64,
        executor: &dyn Executor,
    ) -> Result<Outcome, StoreError> {
        let (out, _) = self.execute_with(verified, ctx, |host, ctx, state| {
            let params = RunParams::new(ctx, state, gas_limit).with_calls(executor);
            (executor.execute(verified, params, host), ())
        })?;
        Ok(out)
    }

    /// [`Store::execute`] with a custom runner, as [`CoopHost::execute_with`].
    pub fn execute_with<T>(
        &mut self,
        verified: &Verified,
        ctx: &ExecutionContext,
        runner: impl FnOnce(&mut CoopHost, &ExecutionContext, &State) -> (Outcome, T),
    ) -> Result<(Outcome, Option<T>), StoreError> {
        self.writable()?;
        let (out, extra) = self.host.execute_with(verified, ctx, runner);
        if out.is_ok() {
            self.commit_host()?;
        }
        Ok((out, extra))
    }

    /// Makes the next commit abort the process after writing and before committing: a crash
    /// between write and commit, for crash-safety tests. Only with the `test-hooks` feature.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn crash_before_commit(&mut self, crash: bool) {
        self.crash_before_commit = crash;
    }

    /// Makes the next commit fail with an I/O error after writing (the transaction is
    /// dropped, so nothing is written): for tests of the failure path. Only with the
    /// `test-hooks` feature.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn fail_next_commit(&mut self) {
        self.fail_next_commit = true;
    }

    /// Writes every committed change not yet written, in one (two-phase) transaction.
    fn flush(&mut self) -> Result<(), StoreError> {
        self.writable()?;
        let code = self.host.take_new_code();
        let mut tables = Vec::new();
        for j in self.host.domain.journals_mut() {
            let dirty = j.take_dirty();
            if !dirty.is_empty() {
                tables.push((j.name(), dirty));
            }
        }
        let (base, events) = self.host.take_events();
        let mut encoded = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let json = serde_json::to_vec(e)
                .map_err(|e| StoreError::Corrupt(format!("an event cannot be encoded: {e}")))?;
            encoded.push(((base + i as u64).to_be_bytes(), json));
        }
        #[cfg(any(test, feature = "test-hooks"))]
        let (crash, fail) = (
            self.crash_before_commit,
            std::mem::take(&mut self.fail_next_commit),
        );
        // Builds without the test hooks (every shipped build) never crash or fail on purpose.
        #[cfg(not(any(test, feature = "test-hooks")))]
        let (crash, fail) = (false, false);
        self.with_db("writing", |db| {
            let mut txn = db.begin_write().map_err(db_err)?;
            txn.set_two_phase_commit(true);
            {
                let mut t = txn.open_table(CONTRACTS).map_err(db_err)?;
                for v in &code {
                    let bytes = codec::encode(v.contract());
                    t.insert(v.contract().id.as_bytes(), bytes.as_slice())
                        .map_err(db_err)?;
                }
            }
            for &(name, ref dirty) in &tables {
                let mut t = txn.open_table(domain_table(name)).map_err(db_err)?;
                for (k, v) in dirty {
                    match v {
                        Some(v) => t.insert(k.as_bytes(), v.as_bytes()).map_err(db_err)?,
                        None => t.remove(k.as_bytes()).map_err(db_err)?,
                    };
                }
            }
            {
                let mut t = txn.open_table(EVENTS).map_err(db_err)?;
                for (k, json) in &encoded {
                    t.insert(k.as_slice(), json.as_slice()).map_err(db_err)?;
                }
            }
            if crash {
                std::process::abort();
            }
            if fail {
                return Err(StoreError::Db(redb::Error::Io(std::io::Error::other(
                    "injected commit failure",
                ))));
            }
            txn.commit().map_err(db_err)
        })
    }

    /// The stored event log, oldest first, with sequence numbers.
    pub fn events(&mut self) -> Result<Vec<(u64, Event)>, StoreError> {
        self.with_db("reading the events", read_events)
    }

    /// Everything stored, as one JSON object (what `coopvm state --json` prints). Its shape
    /// is the same whatever the database holds (documented in `docs/domain.md`, "The state
    /// database"):
    /// - `path`: the database path;
    /// - `contracts`: an object from contract id to its deployment (`owner`, `code_hash`,
    ///   `revision`, `previous`) and code (`version`, `instructions`, `depends`, `bytes`);
    /// - one member per domain table: an object from name to value for the tables keyed by
    ///   one name (`cooperatives`, `federations`, `reputations`, `dids`, `contract_states`,
    ///   `meta`), an array of objects with named fields for the others (`members`,
    ///   `federation_members`, `proposals`, `ballots`, `delegations`);
    /// - `events`: an array of events with their sequence numbers (`seq`).
    pub fn dump(&mut self) -> Result<serde_json::Value, StoreError> {
        use serde_json::{json, Map, Value};
        let mut contracts = Map::new();
        for (id, v) in self.host.deployments() {
            let c = v.contract();
            let mut entry = match self
                .host
                .deployment(id)
                .and_then(|d| serde_json::to_value(d).ok())
            {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            entry.insert("version".into(), json!(c.version));
            entry.insert("instructions".into(), json!(c.program.code.len()));
            entry.insert("depends".into(), json!(c.dependencies));
            entry.insert("bytes".into(), json!(codec::encode(c).len()));
            contracts.insert(id.clone(), Value::Object(entry));
        }
        let mut root = Map::new();
        root.insert("path".into(), json!(self.path.display().to_string()));
        root.insert("contracts".into(), Value::Object(contracts));
        for j in self.host.domain.journals() {
            if j.name() == "deployments" {
                continue; // shown with the contracts
            }
            root.insert(j.name().into(), shaped(j.shape(), j.entries_json()));
        }
        let events: Vec<Value> = self
            .events()?
            .into_iter()
            .map(|(seq, e)| {
                let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut v {
                    m.insert("seq".into(), json!(seq));
                }
                v
            })
            .collect();
        root.insert("events".into(), Value::Array(events));
        Ok(Value::Object(root))
    }
}

#[cfg(test)]
mod tests;

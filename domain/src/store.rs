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
//! let dir = std::env::temp_dir().join(format!("coopvm-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("state.redb");
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
//! # std::fs::remove_dir_all(&dir).ok();
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

/// A redb error, with corruption told apart from other failures.
fn db_err(e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::Corrupted(m) => StoreError::Corrupt(m),
        e @ (redb::Error::TableTypeMismatch { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_)
        | redb::Error::TypeDefinitionChanged { .. }
        | redb::Error::TableDoesNotExist(_)
        | redb::Error::UpgradeRequired(_)) => StoreError::Corrupt(e.to_string()),
        e => StoreError::Db(e),
    }
}

thread_local! {
    /// How many contained sections this thread is in (their panics are not printed).
    static CONTAINED: Cell<u32> = const { Cell::new(0) };
    /// The message of the last panic caught in a contained section on this thread.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) the panic hook that keeps contained panics quiet (see the module docs).
fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CONTAINED.with(Cell::get) > 0 {
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let what = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                let text: String = format!("{what}{at}").chars().take(300).collect();
                CAUGHT.with(|c| *c.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic inside it into [`StoreError::Corrupt`] (`Err(Err(..))`: the
/// caller must abandon whatever redb handle `f` used).
fn contain<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, StoreError> {
    install_quiet_hook();
    CONTAINED.with(|c| c.set(c.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(c.get().saturating_sub(1)));
    result.map_err(|_| {
        let detail = CAUGHT
            .with(|c| c.borrow_mut().take())
            .unwrap_or_else(|| "a panic".to_owned());
        StoreError::Corrupt(format!(
            "{what}: the storage library failed on the data ({detail})"
        ))
    })
}

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

/// A table's entries in its [`Shape`].
fn shaped(shape: Shape, entries: Vec<(serde_json::Value, serde_json::Value)>) -> serde_json::Value {
    use serde_json::{Map, Value};
    match shape {
        Shape::Map => Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let k = match k {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect(),
        ),
        Shape::List { key, value } => Value::Array(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let mut m = Map::new();
                    let parts = match k {
                        Value::Array(parts) if key.len() > 1 => parts,
                        k => vec![k],
                    };
                    for (name, part) in key.iter().zip(parts) {
                        m.insert((*name).to_owned(), part);
                    }
                    match (v, value) {
                        (v, Some(name)) => {
                            m.insert(name.to_owned(), v);
                        }
                        (Value::Object(fields), None) => m.extend(fields),
                        (v, None) => {
                            m.insert("value".to_owned(), v);
                        }
                    }
                    Value::Object(m)
                })
                .collect(),
        ),
    }
}

/// What a database holds, as far as its layout goes.
enum Layout {
    /// Nothing at all: a database redb has just initialized.
    Empty,
    /// A database of layout [`FORMAT`] with every table.
    Current,
}

/// Every table a database of layout [`FORMAT`] has.
fn table_names() -> Vec<&'static str> {
    let mut names = vec![INFO.name(), CONTRACTS.name(), EVENTS.name()];
    names.extend(crate::Domain::default().journals().map(|j| j.name()));
    names
}

fn layout_of(txn: &ReadTransaction, path: &str) -> Result<Layout, StoreError> {
    let names: Vec<String> = txn
        .list_tables()
        .map_err(db_err)?
        .map(|t| t.name().to_owned())
        .collect();
    if names.is_empty() {
        return Ok(Layout::Empty);
    }
    if !names.iter().any(|n| n == INFO.name()) {
        if names.iter().any(|n| n == LEGACY_INFO) {
            return Err(StoreError::Version {
                path: path.to_owned(),
                found: 1,
            });
        }
        return Err(StoreError::NotAStore {
            path: path.to_owned(),
        });
    }
    let info = txn.open_table(INFO).map_err(db_err)?;
    let format = match info.get(FORMAT_KEY).map_err(db_err)? {
        Some(v) => u64_from(v.value())
            .ok_or_else(|| StoreError::Corrupt("the layout version is not 8 bytes".into()))?,
        None => return Err(StoreError::Corrupt("the layout version is missing".into())),
    };
    if format != FORMAT {
        return Err(StoreError::Version {
            path: path.to_owned(),
            found: format,
        });
    }
    if let Some(missing) = table_names()
        .into_iter()
        .find(|t| !names.iter().any(|n| n == t))
    {
        return Err(StoreError::Corrupt(format!(
            "the table `{missing}` is missing"
        )));
    }
    Ok(Layout::Current)
}

fn u64_from(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

fn utf8<'a>(bytes: &'a [u8], what: &dyn Fn() -> String) -> Result<&'a str, StoreError> {
    std::str::from_utf8(bytes).map_err(|e| StoreError::Corrupt(format!("{}: {e}", what())))
}

/// At most this many characters of stored text in an error message.
const SHOWN: usize = 80;

fn shown(text: &str) -> String {
    text.chars().take(SHOWN).collect()
}

/// Creates the tables of a new database and records the layout version.
fn init_tables(db: &Database) -> Result<(), StoreError> {
    let mut txn = db.begin_write().map_err(db_err)?;
    txn.set_two_phase_commit(true);
    for name in table_names() {
        txn.open_table(domain_table(name)).map_err(db_err)?;
    }
    txn.open_table(INFO)
        .map_err(db_err)?
        .insert(FORMAT_KEY, FORMAT.to_be_bytes().as_slice())
        .map_err(db_err)?;
    txn.commit().map_err(db_err)
}

/// Reads the whole world from `db`, checking everything it reads.
fn load_host(db: &Database) -> Result<CoopHost, StoreError> {
    let mut host = CoopHost::new();
    let txn = db.begin_read().map_err(db_err)?;
    for j in host.domain.journals_mut() {
        let name = j.name();
        let table = txn.open_table(domain_table(name)).map_err(db_err)?;
        for entry in table.iter().map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            let key = utf8(k.value(), &|| format!("table `{name}`: a key"))?;
            let value = utf8(v.value(), &|| format!("table `{name}`, key {}", shown(key)))?;
            j.load_encoded(key, value).map_err(|e| {
                StoreError::Corrupt(format!("table `{name}`, key {}: {e}", shown(key)))
            })?;
        }
    }
    let contracts = txn.open_table(CONTRACTS).map_err(db_err)?;
    let limits = *host.limits();
    for entry in contracts.iter().map_err(db_err)? {
        let (k, bytes) = entry.map_err(db_err)?;
        let id = utf8(k.value(), &|| "a deployed contract's id".to_owned())?.to_owned();
        let bad =
            |e: String| StoreError::Corrupt(format!("deployed contract `{}`: {e}", shown(&id)));
        let contract = codec::decode(bytes.value()).map_err(|e| bad(e.to_string()))?;
        if contract.id != id {
            return Err(bad(format!(
                "its code is stored under the wrong id (`{}`)",
                shown(&contract.id)
            )));
        }
        let Some(record) = host.deployment(&id) else {
            return Err(bad("it has no deployment record".into()));
        };
        if record.code_hash != coopvm_core::address::code_hash_hex(&contract) {
            return Err(bad(format!(
                "its code does not match its recorded hash {}",
                shown(&record.code_hash)
            )));
        }
        let verified = coopvm_core::verify(contract, &limits).map_err(|e| bad(e.to_string()))?;
        host.install_stored(verified);
    }
    if let Some((id, _)) = host
        .domain
        .deployments
        .iter()
        .find(|(id, _)| host.deployed(id).is_none())
    {
        return Err(StoreError::Corrupt(format!(
            "deployment `{}` has no code",
            shown(id)
        )));
    }
    let events = txn.open_table(EVENTS).map_err(db_err)?;
    let count = events.len().map_err(db_err)?;
    // Events are numbered 0..count: the last key must be count - 1, else the next run would
    // overwrite or skip entries.
    let last = events.last().map_err(db_err)?;
    let consistent = match (&last, count) {
        (None, 0) => true,
        (Some((k, _)), n) if n > 0 => u64_from(k.value()) == Some(n - 1),
        _ => false,
    };
    if !consistent {
        return Err(StoreError::Corrupt(format!(
            "the event log's numbering is broken ({count} events)"
        )));
    }
    drop(last);
    host.set_event_base(count);
    Ok(host)
}

fn read_events(db: &Database) -> Result<Vec<(u64, Event)>, StoreError> {
    let txn = db.begin_read().map_err(db_err)?;
    let t = txn.open_table(EVENTS).map_err(db_err)?;
    let mut out = Vec::new();
    for entry in t.iter().map_err(db_err)? {
        let (k, v) = entry.map_err(db_err)?;
        let seq = u64_from(k.value())
            .ok_or_else(|| StoreError::Corrupt("an event's key is not 8 bytes".into()))?;
        let e: Event = serde_json::from_slice(v.value())
            .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?;
        out.push((seq, e));
    }
    Ok(out)
}

/// Creates a new database at `path` atomically: it is built under a temporary name in the
/// same directory and then linked into place (without replacing a database another process
/// created meanwhile), so a process killed while creating never leaves a half-written file
/// at `path`.
fn create_fresh(path: &Path) -> Result<(), StoreError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_owned());
    let tmp = path.with_file_name(format!(".{name}.new-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let db = Database::create(&tmp).map_err(db_err)?;
        init_tables(&db)?;
        drop(db);
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(StoreError::Db(redb::Error::Io(e))),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

fn domain_table(name: &'static str) -> Raw {
    TableDefinition::new(name)
}

/// Reads the file at `path` into memory under a shared lock (a writer cannot be half-way
/// through a commit meanwhile), waiting at most `timeout` for a writer to finish.
fn read_locked(path: &Path, timeout: Duration) -> Result<Vec<u8>, StoreError> {
    use std::io::Read;
    let shown = path.display().to_string();
    let io = |source: std::io::Error| StoreError::Open {
        path: shown.clone(),
        source: redb::Error::Io(source),
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let start = Instant::now();
    loop {
        match file.try_lock_shared() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                if start.elapsed() > timeout {
                    return Err(StoreError::Busy { path: shown });
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            // Locking unsupported here: read without it.
            Err(std::fs::TryLockError::Error(_)) => break,
        }
    }
    let len = file.metadata().map_err(io)?.len();
    let len = usize::try_from(len)
        .map_err(|_| io(std::io::Error::other("the file is too large to read")))?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(len).map_err(|_| {
        io(std::io::Error::other(
            "the file is too large to read into memory",
        ))
    })?;
    (&mut file)
        .take(len as u64)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let _ = file.unlock();
    Ok(bytes)
}

/// A database file copied into memory: redb may check and recover it there without touching
/// the file. It grows to at most [`Snapshot::limit`] (so a corrupted length cannot make it
/// allocate without bound).
#[derive(Debug)]
struct Snapshot {
    bytes: Mutex<Vec<u8>>,
    limit: usize,
}

impl Snapshot {
    fn new(bytes: Vec<u8>) -> Snapshot {
        let limit = bytes.len().saturating_mul(2).max(bytes.len() + (64 << 20));
        Snapshot {
            bytes: Mutex::new(bytes),
            limit,
        }
    }

    fn bytes(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.bytes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn grow(&self, bytes: &mut Vec<u8>, len: u64) -> std::io::Result<()> {
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= self.limit)
            .ok_or_else(|| {
                std::io::Error::other(format!(
                    "the in-memory copy would grow to {len} bytes, beyond {}",
                    self.limit
                ))
            })?;
        if len > bytes.len() {
            bytes
                .try_reserve_exact(len - bytes.len())
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        bytes.resize(len, 0);
        Ok(())
    }
}

impl StorageBackend for Snapshot {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.bytes().len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        let bytes = self.bytes();
        let start = usize::try_from(offset).ok();
        let range = start.and_then(|s| Some(s..s.checked_add(out.len())?));
        match range.and_then(|r| bytes.get(r)) {
            Some(src) => {
                out.copy_from_slice(src);
                Ok(())
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("read of {} bytes at {offset} beyond the end", out.len()),
            )),
        }
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        let mut bytes = self.bytes();
        self.grow(&mut bytes, len)
    }

    fn sync_data(&self) -> std::io::Result<()> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let mut bytes = self.bytes();
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| std::io::Error::other("write beyond the addressable range"))?;
        if end > bytes.len() as u64 {
            self.grow(&mut bytes, end)?;
        }
        let start = offset as usize;
        bytes[start..start + data.len()].copy_from_slice(data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coopvm_core::{load, Limits};
    use coopvm_engine::Engine;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("coopvm-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("state.redb")
    }

    fn verified(src: &str) -> Verified {
        load::from_source("t.casm", src)
            .unwrap()
            .verify(&Limits::default())
            .unwrap()
    }

    fn ctx(caller: &str) -> ExecutionContext {
        ExecutionContext {
            caller_did: caller.into(),
            ..Default::default()
        }
    }

    /// Writes raw entries into `table` of the database at `path` (with valid checksums).
    fn poke(path: &Path, table: &'static str, entries: &[(&[u8], &[u8])]) {
        let db = Database::create(path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(domain_table(table)).unwrap();
            for (k, v) in entries {
                t.insert(*k, *v).unwrap();
            }
        }
        txn.commit().unwrap();
    }

    #[test]
    fn runs_persist_domain_state_and_events_failures_write_nothing() {
        let path = temp("persist");
        let create = verified(
            ".contract setup\n.state n 0\n\
             push \"makers\"\npush 50\ncreatecooperative\n\
             load n\npush 1\nadd\nstore n\n",
        );
        {
            let mut s = Store::open(&path).unwrap();
            assert!(s
                .execute(&create, &ctx("did:key:a"), 10_000, &Engine::Interp)
                .unwrap()
                .is_ok());
        }
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.host().cooperative("makers").unwrap().pool, 50);
        assert_eq!(s.host().contract_state("setup").unwrap()["n"], 1);
        assert_eq!(s.host().runs(), 1);
        assert_eq!(s.events().unwrap().len(), 1);
        // Running it again fails (already exists) and writes nothing.
        let out = s
            .execute(&create, &ctx("did:key:a"), 10_000, &Engine::Interp)
            .unwrap();
        assert_eq!(out.result.unwrap_err().kind.name(), "already_exists");
        drop(s);
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.host().contract_state("setup").unwrap()["n"], 1);
        assert_eq!(s.host().runs(), 1);
        assert_eq!(s.events().unwrap().len(), 1);
        let dump = s.dump().unwrap();
        assert_eq!(dump["cooperatives"]["makers"]["pool"], 50);
        assert_eq!(dump["contract_states"]["setup"]["n"], 1);
        assert_eq!(dump["events"][0]["name"], "CooperativeCreated");
        assert_eq!(
            dump["members"][0],
            serde_json::json!({"cooperative": "makers", "member": "did:key:a", "balance": 0, "joined_block": 0})
        );
        // The first run deployed `setup`, owned by its caller.
        assert_eq!(dump["contracts"]["setup"]["owner"], "did:key:a");
        assert_eq!(dump["contracts"]["setup"]["revision"], 1);
    }

    #[test]
    fn deployments_persist_and_enable_calls() {
        let path = temp("deploy");
        {
            let mut s = Store::open(&path).unwrap();
            let lib = verified(".contract lib\nload arg\npush 1\nadd\n");
            assert_eq!(
                s.deploy(lib.clone(), "did:key:a").unwrap(),
                DeployOutcome::Deployed
            );
            assert_eq!(
                s.deploy(lib, "did:key:b").unwrap(),
                DeployOutcome::Unchanged
            );
        }
        let mut s = Store::open(&path).unwrap();
        assert!(s.host().deployed("lib").is_some());
        let main = verified(".contract main\n.depends lib\npush \"lib\"\npush 41\ncallcontract\n");
        let out = s
            .execute(&main, &ctx("did:key:a"), 10_000, &Engine::Interp)
            .unwrap();
        assert_eq!(out.stack, vec![42]);
    }

    #[test]
    fn identity_survives_reopening_only_the_owner_upgrades() {
        let path = temp("identity");
        let lib = verified(".contract lib\n.state calls 0\nload calls\npush 1\nadd\nstore calls\nload arg\npush 1\nadd\n");
        let evil = verified(".contract lib\n.state calls 0\npush 99\nstore calls\npush 99\n");
        let main = verified(".contract main\n.depends lib\npush \"lib\"\npush 41\ncallcontract\n");
        {
            let mut s = Store::open(&path).unwrap();
            s.deploy(lib.clone(), "did:key:alice").unwrap();
            s.execute(&main, &ctx("did:key:bob"), 10_000, &Engine::Interp)
                .unwrap();
        }
        let mut s = Store::open(&path).unwrap();
        let e = s.deploy(evil.clone(), "did:key:mallory").unwrap_err();
        assert!(e.to_string().contains("only its owner"), "{e}");
        let out = s
            .execute(&evil, &ctx("did:key:mallory"), 10_000, &Engine::Interp)
            .unwrap();
        assert_eq!(out.result.unwrap_err().kind.name(), "already_exists");
        let e = s.upgrade(evil.clone(), "did:key:mallory").unwrap_err();
        assert!(
            matches!(e, StoreError::Deploy(DeployError::NotOwner { .. })),
            "{e}"
        );
        drop(s);
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.host().contract_state("lib").unwrap()["calls"], 1);
        assert_eq!(
            s.upgrade(evil.clone(), "did:key:alice").unwrap(),
            DeployOutcome::Upgraded
        );
        drop(s);
        let mut s = Store::open(&path).unwrap();
        let d = s.host().deployment("lib").unwrap().clone();
        assert_eq!(d.revision, 2);
        assert_eq!(
            d.previous,
            vec![coopvm_core::address::code_hash_hex(lib.contract())]
        );
        let out = s
            .execute(&main, &ctx("did:key:bob"), 10_000, &Engine::Interp)
            .unwrap();
        assert_eq!(out.stack, vec![99]);
        let dump = s.dump().unwrap();
        assert_eq!(dump["contracts"]["lib"]["revision"], 2);
        assert_eq!(dump["contracts"]["lib"]["owner"], "did:key:alice");
        assert_eq!(dump["contracts"]["main"]["owner"], "did:key:bob");
    }

    #[test]
    fn reputation_is_read_from_the_database() {
        let path = temp("reputation");
        let rate = verified(".contract rate\npush \"did:key:eve\"\npush 50\nupdatereputation\n");
        let guarded = verified(".contract guarded\n.reputation 50\npush 1\n");
        let mut s = Store::open(&path).unwrap();
        // A claimed score counts for nothing: eve's stored score is 0.
        let eve = ExecutionContext {
            reputation_score: 10_000_000,
            ..ctx("did:key:eve")
        };
        let out = s.execute(&guarded, &eve, 1_000, &Engine::Interp).unwrap();
        assert_eq!(
            out.result.unwrap_err().kind.name(),
            "insufficient_reputation"
        );
        let rater = ExecutionContext {
            permissions: vec![crate::PERM_REPUTATION.into()],
            ..ctx("did:key:rater")
        };
        assert!(s
            .execute(&rate, &rater, 1_000, &Engine::Interp)
            .unwrap()
            .is_ok());
        drop(s);
        let mut s = Store::open(&path).unwrap();
        let out = s
            .execute(&guarded, &ctx("did:key:eve"), 1_000, &Engine::Interp)
            .unwrap();
        assert!(out.is_ok(), "{:?}", out.result);
    }

    #[test]
    fn deployments_must_verify_with_default_limits() {
        let path = temp("limits");
        let mut s = Store::open(&path).unwrap();
        let big = Limits {
            stack: 1 << 20,
            ..Limits::default()
        };
        let deep: String = ".contract deep\n".to_owned() + &"push 1\n".repeat(1100);
        let v = coopvm_core::verify(load::from_source("t", &deep).unwrap().contract, &big).unwrap();
        let e = s.deploy(v, "did:key:a").unwrap_err();
        assert!(
            matches!(e, StoreError::Deploy(DeployError::Unverifiable { .. })),
            "{e}"
        );
        drop(s);
        let s = Store::open(&path).unwrap();
        assert!(s.host().deployed("deep").is_none());
    }

    #[test]
    fn a_second_open_waits_for_the_first() {
        let path = temp("busy");
        let s = Store::open(&path).unwrap();
        let p2 = path.clone();
        let t = std::thread::spawn(move || Store::open(&p2).map(|_| ()));
        std::thread::sleep(Duration::from_millis(50));
        drop(s);
        t.join().unwrap().unwrap();
    }

    #[test]
    fn a_failed_write_leaves_memory_and_disk_as_they_were() {
        let path = temp("failwrite");
        let v = verified(
            ".contract c\n.state n 0\nload n\npush 1\nadd\nstore n\n\
             push \"k\"\npush 5\ncreatecooperative\n",
        );
        let mut s = Store::open(&path).unwrap();
        s.fail_next_commit();
        let e = s
            .execute(&v, &ctx("did:key:a"), 10_000, &Engine::Interp)
            .unwrap_err();
        assert!(e.to_string().contains("injected"), "{e}");
        // Reloaded: the run's changes are neither in memory nor on disk.
        assert!(s.host().cooperative("k").is_none());
        assert!(s.host().contract_state("c").is_none());
        assert!(s.host().deployment("c").is_none());
        assert_eq!(s.host().runs(), 0);
        assert_eq!(s.host().event_count(), 0);
        // And the store keeps working.
        assert!(s
            .execute(&v, &ctx("did:key:a"), 10_000, &Engine::Interp)
            .unwrap()
            .is_ok());
        drop(s);
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.host().contract_state("c").unwrap()["n"], 1);
        assert!(s.host().deployed("c").is_some());
        assert_eq!(s.events().unwrap().len(), 1);
        assert_eq!(s.host().event_count(), 1);
    }

    #[test]
    fn a_held_database_is_busy_after_the_timeout() {
        let path = temp("held");
        let _held = Store::open(&path).unwrap();
        let e = Store::open_with_timeout(&path, Duration::from_millis(30)).unwrap_err();
        assert!(matches!(e, StoreError::Busy { .. }), "{e}");
        assert!(e.to_string().contains("in use by another process"));
        let e = Store::open_read_only_with_timeout(&path, Duration::from_millis(30)).unwrap_err();
        assert!(matches!(e, StoreError::Busy { .. }), "{e}");
    }

    #[test]
    fn unreadable_contents_are_reported() {
        // A newer layout version.
        let path = temp("format");
        drop(Store::open(&path).unwrap());
        poke(&path, "coopvm", &[(FORMAT_KEY, &99u64.to_be_bytes())]);
        let e = Store::open(&path).unwrap_err();
        assert!(matches!(e, StoreError::Version { found: 99, .. }), "{e}");
        assert!(e.to_string().contains("newer"), "{e}");
        // A domain entry that is not the JSON of its type.
        let path = temp("entry");
        drop(Store::open(&path).unwrap());
        poke(
            &path,
            "cooperatives",
            &[(b"\"c\"", b"{\"pool\": \"lots\"}")],
        );
        let e = Store::open(&path).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
        assert!(e.to_string().contains("state database is corrupted"), "{e}");
        assert!(e.to_string().contains("cooperatives"), "{e}");
        // A key that is not UTF-8 (redb's own `&str` keys would panic here).
        let path = temp("utf8");
        drop(Store::open(&path).unwrap());
        poke(&path, "reputations", &[(b"\"\xff\"", b"1")]);
        for e in [
            Store::open(&path).unwrap_err(),
            Store::open_read_only(&path).unwrap_err(),
        ] {
            assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
            assert!(e.to_string().contains("reputations"), "{e}");
        }
        // Contract bytes that do not decode, or that disagree with the deployment record.
        let path = temp("contract");
        drop(Store::open(&path).unwrap());
        poke(&path, "contracts", &[(b"x", b"junk")]);
        let e = Store::open(&path).unwrap_err();
        assert!(e.to_string().contains("deployed contract `x`"), "{e}");
        let path = temp("record");
        {
            let mut s = Store::open(&path).unwrap();
            s.deploy(verified(".contract x\npush 1\n"), "did:key:a")
                .unwrap();
        }
        let other = codec::encode(verified(".contract x\npush 2\n").contract());
        poke(&path, "contracts", &[(b"x", &other)]);
        let e = Store::open(&path).unwrap_err();
        assert!(
            e.to_string().contains("does not match its recorded hash"),
            "{e}"
        );
        // An event log with a hole.
        let path = temp("events");
        drop(Store::open(&path).unwrap());
        poke(&path, "events", &[(&5u64.to_be_bytes(), b"{}")]);
        let e = Store::open(&path).unwrap_err();
        assert!(e.to_string().contains("event log"), "{e}");
    }

    #[test]
    fn a_layout_1_database_is_refused_clearly() {
        let path = temp("v1");
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            let old: TableDefinition<&str, u64> = TableDefinition::new(LEGACY_INFO);
            txn.open_table(old).unwrap().insert("format", 1).unwrap();
            txn.commit().unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let e = Store::open(&path).unwrap_err();
        assert!(matches!(e, StoreError::Version { found: 1, .. }), "{e}");
        assert!(e.to_string().contains("start a new database"), "{e}");
        let e = Store::open_read_only(&path).unwrap_err();
        assert!(matches!(e, StoreError::Version { found: 1, .. }), "{e}");
        drop(e);
        // An unrelated redb database is not a state database.
        let path = temp("foreign");
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            let t: TableDefinition<u64, u64> = TableDefinition::new("mine");
            txn.open_table(t).unwrap().insert(1, 2).unwrap();
            txn.commit().unwrap();
        }
        let e = Store::open(&path).unwrap_err();
        assert!(matches!(e, StoreError::NotAStore { .. }), "{e}");
        let _ = before;
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let path = temp("garbage");
        std::fs::write(&path, b"this is not a database at all, not even close").unwrap();
        let e = Store::open(&path).unwrap_err();
        assert!(matches!(e, StoreError::Open { .. }), "{e}");
        let e = Store::open_read_only(&path).unwrap_err();
        assert!(matches!(e, StoreError::Open { .. }), "{e}");
        // An empty file is no database to show (a writer makes it a new one).
        std::fs::write(&path, b"").unwrap();
        let e = Store::open_read_only(&path).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        assert_eq!(Store::open(&path).unwrap().host().runs(), 0);
    }

    /// A world with some of everything.
    fn populated(path: &Path) {
        let mut s = Store::open(path).unwrap();
        let setup = verified(
            ".contract setup\n\
             push \"makers\"\npush 100\ncreatecooperative\n\
             push \"makers\"\npush \"p\"\npush 2\npush 50\ncreateproposal\npop\n",
        );
        assert!(s
            .execute(&setup, &ctx("did:key:alice"), 10_000, &Engine::Interp)
            .unwrap()
            .is_ok());
        let join = verified(".contract join\npush \"makers\"\njoincooperative\n");
        assert!(s
            .execute(&join, &ctx("did:key:bob"), 10_000, &Engine::Interp)
            .unwrap()
            .is_ok());
        let delegate = verified(
            ".contract delegate\npush \"makers\"\npush \"did:key:alice\"\ndelegatevotes\n",
        );
        assert!(s
            .execute(&delegate, &ctx("did:key:bob"), 10_000, &Engine::Interp)
            .unwrap()
            .is_ok());
        let vote = verified(".contract vote\npush 1\npush 1\ncastvote\n");
        assert!(s
            .execute(&vote, &ctx("did:key:alice"), 10_000, &Engine::Interp)
            .unwrap()
            .is_ok());
        let fed = verified(".contract fed\npush \"f\"\npush \"makers\"\ncreatefederation\n");
        assert!(s
            .execute(&fed, &ctx("did:key:alice"), 10_000, &Engine::Interp)
            .unwrap()
            .is_ok());
    }

    #[test]
    fn the_json_shape_is_the_same_empty_or_not() {
        use serde_json::json;
        let path = temp("shape-empty");
        drop(Store::open(&path).unwrap());
        let empty = Store::open_read_only(&path).unwrap().dump().unwrap();
        let path = temp("shape-full");
        populated(&path);
        let full = Store::open_read_only(&path).unwrap().dump().unwrap();
        let kind = |v: &serde_json::Value| match v {
            serde_json::Value::Object(_) => "object",
            serde_json::Value::Array(_) => "array",
            _ => "other",
        };
        let (e, f) = (empty.as_object().unwrap(), full.as_object().unwrap());
        assert_eq!(e.keys().collect::<Vec<_>>(), f.keys().collect::<Vec<_>>());
        for (name, v) in e {
            assert_eq!(kind(v), kind(&f[name]), "{name}");
        }
        for name in [
            "members",
            "federation_members",
            "proposals",
            "ballots",
            "delegations",
            "events",
        ] {
            assert_eq!(empty[name], json!([]), "{name}");
            assert!(!full[name].as_array().unwrap().is_empty(), "{name}");
        }
        for name in [
            "contracts",
            "cooperatives",
            "federations",
            "reputations",
            "dids",
            "contract_states",
            "meta",
        ] {
            assert_eq!(empty[name], json!({}), "{name}");
        }
        assert_eq!(full["proposals"][0]["id"], 1);
        assert_eq!(full["proposals"][0]["cooperative"], "makers");
        assert_eq!(
            full["ballots"],
            json!([
                {"proposal": 1, "member": "did:key:alice", "by": "did:key:alice", "yes": true},
                {"proposal": 1, "member": "did:key:bob", "by": "did:key:alice", "yes": true},
            ])
        );
        assert_eq!(
            full["delegations"],
            json!([{"cooperative": "makers", "delegator": "did:key:bob", "delegate": "did:key:alice"}])
        );
        assert_eq!(full["federation_members"][0]["federation"], "f");
        assert_eq!(full["federation_members"][0]["cooperative"], "makers");
        assert_eq!(full["members"][1]["member"], "did:key:bob");
        assert!(
            full["contracts"]["setup"]["code_hash"]
                .as_str()
                .unwrap()
                .len()
                == 64
        );
    }

    #[test]
    fn showing_state_writes_nothing_and_reads_read_only_files() {
        let path = temp("readonly");
        populated(&path);
        let before = std::fs::read(&path).unwrap();
        for _ in 0..3 {
            let mut s = Store::open_read_only(&path).unwrap();
            assert_eq!(s.dump().unwrap()["meta"]["runs"], 5);
            // Nothing can be written through it.
            let e = s
                .deploy(verified(".contract z\npush 1\n"), "did:key:a")
                .unwrap_err();
            assert!(matches!(e, StoreError::ReadOnly { .. }), "{e}");
            let e = s
                .execute(
                    &verified(".contract z\npush 1\n"),
                    &ctx("did:key:a"),
                    100,
                    &Engine::Interp,
                )
                .unwrap_err();
            assert!(matches!(e, StoreError::ReadOnly { .. }), "{e}");
        }
        assert!(
            std::fs::read(&path).unwrap() == before,
            "showing state changed the file"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
            let shown = Store::open_read_only(&path).unwrap().dump().unwrap();
            assert_eq!(shown["cooperatives"]["makers"]["pool"], 100);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }

    #[test]
    fn a_database_left_open_by_a_crash_is_shown_without_writing() {
        let path = temp("crashed");
        populated(&path);
        {
            // Commit, then vanish without closing (as a killed process would).
            let mut s = Store::open(&path).unwrap();
            let tick = verified(".contract tick\npush 1\n");
            assert!(s
                .execute(&tick, &ctx("did:key:a"), 100, &Engine::Interp)
                .unwrap()
                .is_ok());
            // A copy of the file as it is now: committed, never closed.
            let copy = path.with_file_name("copy.redb");
            std::fs::copy(&path, &copy).unwrap();
            let before = std::fs::read(&copy).unwrap();
            let mut shown = Store::open_read_only(&copy).unwrap();
            assert_eq!(shown.dump().unwrap()["meta"]["runs"], 6);
            assert!(std::fs::read(&copy).unwrap() == before);
            // And a writer recovers it.
            drop(shown);
            assert_eq!(Store::open(&copy).unwrap().host().runs(), 6);
        }
    }
}

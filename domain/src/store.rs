//! Persistent state in a [redb](https://docs.rs/redb) database: deployed contracts, every
//! contract's key-value state, the cooperative domain and the event log.
//!
//! A [`Store`] opens (or creates) the database, loads it into a [`CoopHost`], and after each
//! successful run writes what the run changed (contract states, domain entries, run counter,
//! events) in **one** write transaction. A failed run writes nothing. redb commits are atomic
//! and durable (copy-on-write B-trees with a checksummed commit slot), so after a crash the
//! database holds exactly the runs whose commit completed.
//!
//! # Layout
//! | table | key | value |
//! |---|---|---|
//! | `contracts` | contract id | canonical bytes (`coopvm_core::codec`) |
//! | `events` | sequence number (u64, from 0) | event as JSON |
//! | `store_info` | `format` | layout version (1) |
//! | one per domain table (`cooperatives`, `members`, `federations`, `federation_members`, `proposals`, `ballots`, `delegations`, `reputations`, `dids`, `contract_states`, `meta`) | key as JSON | value as JSON |
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
//! for expected in 1..=2 {
//!     let mut store = Store::open(&path).unwrap();
//!     let out = store.execute(&v, &ExecutionContext::default(), 1_000, &Engine::Interp).unwrap();
//!     assert_eq!(out.stack, vec![expected]);
//! }
//! # std::fs::remove_dir_all(&dir).ok();
//! ```

use crate::CoopHost;
use coopvm_core::codec;
use coopvm_core::{Event, ExecutionContext, Executor, Limits, Outcome, RunParams, Verified};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CONTRACTS: TableDefinition<&str, &[u8]> = TableDefinition::new("contracts");
const EVENTS: TableDefinition<u64, &str> = TableDefinition::new("events");
const INFO: TableDefinition<&str, u64> = TableDefinition::new("store_info");
/// The layout version this code writes and reads.
pub const FORMAT: u64 = 1;
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
    /// The database could not be opened or created.
    #[error("cannot open the state database {path}: {source}")]
    Open {
        /// The database path.
        path: String,
        /// redb's error.
        source: redb::Error,
    },
    /// A read or write failed.
    #[error("state database error: {0}")]
    Db(#[from] redb::Error),
    /// A contract to deploy does not verify with the default limits (which the store uses
    /// when it loads deployments).
    #[error("contract `{id}` cannot be deployed: {reason}")]
    Unverifiable {
        /// The contract id.
        id: String,
        /// The verifier's error.
        reason: String,
    },
    /// The database holds something this version cannot read.
    #[error("the state database is not readable by this coopvm: {0}")]
    Corrupt(String),
}

/// With the `test-hooks` feature, every store opened in a process whose environment sets this
/// variable aborts the process between writing and committing its first commit (see
/// [`Store::crash_before_commit`]): how the crash-safety tests crash the `coopvm` binary.
/// Builds without the feature (every shipped build) neither read nor know the variable.
#[cfg(feature = "test-hooks")]
const CRASH_BEFORE_COMMIT: &str = "COOPVM_CRASH_BEFORE_COMMIT";

fn db_err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Db(e.into())
}

/// An open state database and the world loaded from it.
pub struct Store {
    db: Database,
    host: CoopHost,
    path: PathBuf,
    #[cfg(any(test, feature = "test-hooks"))]
    crash_before_commit: bool,
    #[cfg(any(test, feature = "test-hooks"))]
    fail_next_commit: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens the database at `path`, creating it if needed, and loads it; nested contract
    /// calls run on `engine`. Waits up to [`OPEN_TIMEOUT`] while another process has it open.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with_timeout(path, OPEN_TIMEOUT)
    }

    /// [`Store::open`], waiting at most `timeout` for another process to release the
    /// database.
    pub fn open_with_timeout(path: &Path, timeout: Duration) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        if !path.exists() {
            create_fresh(path).map_err(|source| StoreError::Open {
                path: shown.clone(),
                source,
            })?;
        }
        let start = Instant::now();
        let db = loop {
            match Database::create(path) {
                Ok(db) => break db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                    if start.elapsed() > timeout {
                        return Err(StoreError::Busy { path: shown });
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    return Err(StoreError::Open {
                        path: shown,
                        source: e.into(),
                    })
                }
            }
        };
        let mut store = Store {
            db,
            host: CoopHost::new(),
            path: path.to_owned(),
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

    /// Creates missing tables, and checks the layout version.
    fn init(&mut self) -> Result<(), StoreError> {
        init_tables(&self.db)
    }

    /// Replaces the in-memory world with what the database holds.
    fn load(&mut self) -> Result<(), StoreError> {
        let mut host = CoopHost::new();
        let txn = self.db.begin_read().map_err(db_err)?;
        let contracts = txn.open_table(CONTRACTS).map_err(db_err)?;
        for entry in contracts.iter().map_err(db_err)? {
            let (id, bytes) = entry.map_err(db_err)?;
            let contract = codec::decode(bytes.value()).map_err(|e| {
                StoreError::Corrupt(format!("deployed contract `{}`: {e}", id.value()))
            })?;
            let verified = coopvm_core::verify(contract, &Limits::default()).map_err(|e| {
                StoreError::Corrupt(format!("deployed contract `{}`: {e}", id.value()))
            })?;
            host.deploy(verified);
        }
        for j in host.domain.journals_mut() {
            let table = txn.open_table(domain_table(j.name())).map_err(db_err)?;
            for entry in table.iter().map_err(db_err)? {
                let (k, v) = entry.map_err(db_err)?;
                j.load_encoded(k.value(), v.value()).map_err(|e| {
                    StoreError::Corrupt(format!("table `{}`, key {}: {e}", j.name(), k.value()))
                })?;
            }
        }
        let events = txn.open_table(EVENTS).map_err(db_err)?;
        let count = events.len().map_err(db_err)?;
        host.set_event_base(count);
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

    /// Deploys `verified` (replacing a deployment with the same id) in its own transaction.
    /// It must verify with the default limits, which the store uses when it loads it again.
    pub fn deploy(&mut self, verified: Verified) -> Result<(), StoreError> {
        let contract = verified.contract();
        if verified.limits() != &Limits::default() {
            coopvm_core::verify(contract.clone(), &Limits::default()).map_err(|e| {
                StoreError::Unverifiable {
                    id: contract.id.clone(),
                    reason: e.to_string(),
                }
            })?;
        }
        let bytes = codec::encode(verified.contract());
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = txn.open_table(CONTRACTS).map_err(db_err)?;
            t.insert(verified.contract().id.as_str(), bytes.as_slice())
                .map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        self.host.deploy(verified);
        Ok(())
    }

    /// Runs `verified` against the stored world (see [`CoopHost::execute`]) and, if the run
    /// succeeds, writes everything it changed in one transaction. A failed run writes
    /// nothing. An `Err` means the run succeeded but could not be written; the in-memory
    /// world is then reloaded from the database, so it never shows unwritten changes.
    pub fn execute(
        &mut self,
        verified: &Verified,
        ctx: &ExecutionContext,
        gas_limit: u64,
        executor: &dyn Executor,
    ) -> Result<Outcome, StoreError> {
        let (out, _) = self.execute_with(verified, ctx, |host, state| {
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
        runner: impl FnOnce(&mut CoopHost, &coopvm_core::State) -> (Outcome, T),
    ) -> Result<(Outcome, Option<T>), StoreError> {
        let (out, extra) = self.host.execute_with(verified, ctx, runner);
        if out.is_ok() {
            if let Err(e) = self.flush() {
                self.load()?;
                return Err(e);
            }
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

    /// Writes every committed change not yet written, in one transaction.
    fn flush(&mut self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        for j in self.host.domain.journals_mut() {
            let dirty = j.take_dirty();
            if dirty.is_empty() {
                continue;
            }
            let mut t = txn.open_table(domain_table(j.name())).map_err(db_err)?;
            for (k, v) in dirty {
                match v {
                    Some(v) => t.insert(k.as_str(), v.as_str()).map_err(db_err)?,
                    None => t.remove(k.as_str()).map_err(db_err)?,
                };
            }
        }
        let (base, events) = self.host.take_events();
        {
            let mut t = txn.open_table(EVENTS).map_err(db_err)?;
            for (i, e) in events.iter().enumerate() {
                let json =
                    serde_json::to_string(e).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                t.insert(base + i as u64, json.as_str()).map_err(db_err)?;
            }
        }
        #[cfg(any(test, feature = "test-hooks"))]
        if self.crash_before_commit {
            std::process::abort();
        }
        #[cfg(any(test, feature = "test-hooks"))]
        if std::mem::take(&mut self.fail_next_commit) {
            return Err(StoreError::Db(redb::Error::Io(std::io::Error::other(
                "injected commit failure",
            ))));
        }
        txn.commit().map_err(db_err)
    }

    /// The stored event log, oldest first, with sequence numbers.
    pub fn events(&self) -> Result<Vec<(u64, Event)>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(EVENTS).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            let e: Event = serde_json::from_str(v.value())
                .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", k.value())))?;
            out.push((k.value(), e));
        }
        Ok(out)
    }

    /// Everything stored, as one JSON object (what `coopvm state --json` prints).
    pub fn dump(&self) -> Result<serde_json::Value, StoreError> {
        use serde_json::{json, Map, Value};
        let mut contracts = Map::new();
        for (id, v) in self.host.deployments() {
            let c = v.contract();
            contracts.insert(
                id.clone(),
                json!({
                    "version": c.version,
                    "instructions": c.program.code.len(),
                    "depends": c.dependencies,
                    "bytes": codec::encode(c).len(),
                }),
            );
        }
        let mut root = Map::new();
        root.insert("path".into(), json!(self.path.display().to_string()));
        root.insert("contracts".into(), Value::Object(contracts));
        for j in self.host.domain.journals() {
            let entries = j.entries_json();
            let value = if entries.iter().all(|(k, _)| k.is_string()) {
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), v))
                        .collect(),
                )
            } else {
                Value::Array(entries.into_iter().map(|(k, v)| json!([k, v])).collect())
            };
            root.insert(j.name().into(), value);
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

/// Creates the tables of a database (if missing) and checks its layout version.
fn init_tables(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(db_err)?;
    {
        let mut info = txn.open_table(INFO).map_err(db_err)?;
        let format = info.get("format").map_err(db_err)?.map(|g| g.value());
        match format {
            None => {
                info.insert("format", FORMAT).map_err(db_err)?;
            }
            Some(FORMAT) => {}
            Some(other) => {
                return Err(StoreError::Corrupt(format!(
                    "layout version {other}, expected {FORMAT}"
                )))
            }
        }
        txn.open_table(CONTRACTS).map_err(db_err)?;
        txn.open_table(EVENTS).map_err(db_err)?;
        for j in crate::Domain::default().journals() {
            txn.open_table(domain_table(j.name())).map_err(db_err)?;
        }
    }
    txn.commit().map_err(db_err)
}

/// Creates a new database at `path` atomically: it is built under a temporary name in the
/// same directory and then linked into place (without replacing a database another process
/// created meanwhile), so a process killed while creating never leaves a half-written file
/// at `path`.
fn create_fresh(path: &Path) -> Result<(), redb::Error> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_owned());
    let tmp = path.with_file_name(format!(".{name}.new-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let db = Database::create(&tmp)?;
        init_tables(&db).map_err(|e| match e {
            StoreError::Db(e) => e,
            other => redb::Error::Io(std::io::Error::other(other.to_string())),
        })?;
        drop(db);
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(redb::Error::Io(e)),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

fn domain_table(name: &'static str) -> TableDefinition<'static, &'static str, &'static str> {
    TableDefinition::new(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coopvm_core::load;
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
        let s = Store::open(&path).unwrap();
        assert_eq!(s.host().contract_state("setup").unwrap()["n"], 1);
        assert_eq!(s.host().runs(), 1);
        assert_eq!(s.events().unwrap().len(), 1);
        let dump = s.dump().unwrap();
        assert_eq!(dump["cooperatives"]["makers"]["pool"], 50);
        assert_eq!(dump["contract_states"]["setup"]["n"], 1);
        assert_eq!(dump["events"][0]["name"], "CooperativeCreated");
        assert_eq!(dump["members"][0][0][1], "did:key:a");
    }

    #[test]
    fn deployments_persist_and_enable_calls() {
        let path = temp("deploy");
        {
            let mut s = Store::open(&path).unwrap();
            s.deploy(verified(".contract lib\nload arg\npush 1\nadd\n"))
                .unwrap();
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
    fn deployments_must_verify_with_default_limits() {
        let path = temp("limits");
        let mut s = Store::open(&path).unwrap();
        let small = Limits {
            stack: 2,
            ..Limits::default()
        };
        let ok = coopvm_core::verify(
            load::from_source("t", ".contract a\npush 1\n")
                .unwrap()
                .contract,
            &small,
        )
        .unwrap();
        s.deploy(ok).unwrap();
        let big = Limits {
            stack: 1 << 20,
            ..Limits::default()
        };
        let deep: String = ".contract deep\n".to_owned() + &"push 1\n".repeat(1100);
        let v = coopvm_core::verify(load::from_source("t", &deep).unwrap().contract, &big).unwrap();
        let e = s.deploy(v).unwrap_err();
        assert!(matches!(e, StoreError::Unverifiable { .. }), "{e}");
        drop(s);
        let s = Store::open(&path).unwrap();
        assert!(s.host().deployed("a").is_some());
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
        assert_eq!(s.host().runs(), 0);
        assert_eq!(s.host().event_count(), 0);
        // And the store keeps working.
        assert!(s
            .execute(&v, &ctx("did:key:a"), 10_000, &Engine::Interp)
            .unwrap()
            .is_ok());
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.host().contract_state("c").unwrap()["n"], 1);
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
    }

    #[test]
    fn unreadable_contents_are_reported() {
        // A newer layout version.
        let path = temp("format");
        drop(Store::open(&path).unwrap());
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(INFO).unwrap().insert("format", 99).unwrap();
            txn.commit().unwrap();
        }
        let e = Store::open(&path).unwrap_err();
        assert!(e.to_string().contains("layout version 99"), "{e}");
        // A domain entry that is not the JSON of its type.
        let path = temp("entry");
        drop(Store::open(&path).unwrap());
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(domain_table("cooperatives"))
                .unwrap()
                .insert("\"c\"", "{\"pool\": \"lots\"}")
                .unwrap();
            txn.commit().unwrap();
        }
        let e = Store::open(&path).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
        assert!(e.to_string().contains("cooperatives"), "{e}");
        // Contract bytes that do not decode.
        let path = temp("contract");
        drop(Store::open(&path).unwrap());
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(CONTRACTS)
                .unwrap()
                .insert("x", b"junk".as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        let e = Store::open(&path).unwrap_err();
        assert!(e.to_string().contains("deployed contract `x`"), "{e}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let path = temp("garbage");
        std::fs::write(&path, b"this is not a database at all, not even close").unwrap();
        let e = Store::open(&path).unwrap_err();
        assert!(matches!(e, StoreError::Open { .. }), "{e}");
    }
}

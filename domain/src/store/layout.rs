//! The database layout: which tables a database has, creating and checking them, and
//! decoding their raw bytes into the cooperative world, events and the shown state.

use super::*;

/// A table's entries in its [`Shape`].
pub(super) fn shaped(
    shape: Shape,
    entries: Vec<(serde_json::Value, serde_json::Value)>,
) -> serde_json::Value {
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
pub(super) enum Layout {
    /// Nothing at all: a database redb has just initialized.
    Empty,
    /// A database of layout [`FORMAT`] with every table.
    Current,
}

/// Every table a database of layout [`FORMAT`] has.
pub(super) fn table_names() -> Vec<&'static str> {
    let mut names = vec![INFO.name(), CONTRACTS.name(), EVENTS.name()];
    names.extend(crate::Domain::default().journals().map(|j| j.name()));
    names
}

pub(super) fn layout_of(txn: &ReadTransaction, path: &str) -> Result<Layout, StoreError> {
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

pub(super) fn u64_from(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

pub(super) fn utf8<'a>(bytes: &'a [u8], what: &dyn Fn() -> String) -> Result<&'a str, StoreError> {
    std::str::from_utf8(bytes).map_err(|e| StoreError::Corrupt(format!("{}: {e}", what())))
}

/// At most this many characters of stored text in an error message.
const SHOWN: usize = 80;

pub(super) fn shown(text: &str) -> String {
    text.chars().take(SHOWN).collect()
}

/// Creates the tables of a new database and records the layout version.
pub(super) fn init_tables(db: &Database) -> Result<(), StoreError> {
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
pub(super) fn load_host(db: &Database) -> Result<CoopHost, StoreError> {
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

pub(super) fn read_events(db: &Database) -> Result<Vec<(u64, Event)>, StoreError> {
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
pub(super) fn create_fresh(path: &Path) -> Result<(), StoreError> {
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

pub(super) fn domain_table(name: &'static str) -> Raw {
    TableDefinition::new(name)
}

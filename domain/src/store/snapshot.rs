//! Read-only opening: the file copied into memory under a shared lock, served to redb as a
//! storage backend, so showing state never writes to the file.

use super::*;

/// Reads the file at `path` into memory under a shared lock (a writer cannot be half-way
/// through a commit meanwhile), waiting at most `timeout` for a writer to finish.
pub(super) fn read_locked(path: &Path, timeout: Duration) -> Result<Vec<u8>, StoreError> {
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
pub(super) struct Snapshot {
    bytes: Mutex<Vec<u8>>,
    limit: usize,
}

impl Snapshot {
    pub(super) fn new(bytes: Vec<u8>) -> Snapshot {
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

//! Loading contracts from `.casm` text or canonical `.cvm` bytes, with located errors.
//!
//! Besides assembling or decoding, loading makes a contract fit to run:
//! - a file is read up to [`MAX_INPUT_BYTES`] and refused beyond (so `/dev/zero` or an
//!   endless pipe ends with an error instead of exhausting memory);
//! - a contract without instructions is refused ([`LoadError::Empty`]);
//! - a contract without a `.contract` id gets its code address ([`crate::address`]), so
//!   anonymous contracts never share an identity (or stored state) unless their code is
//!   identical; an id of the address form must be the contract's own address.
//!
//! ```
//! use coopvm_core::load;
//! let anon = load::from_source("a.casm", "push 1\n").unwrap();
//! assert!(anon.contract.id.starts_with("c_"));
//! assert!(load::from_source("e.casm", "; nothing\n").is_err());
//! ```

use crate::asm::{assemble_with_map, AsmError, Diagnostic, SourceMap};
use crate::codec::{self, DecodeError};
use crate::{address, verify, Contract, Limits, Verified, VerifyError};
use std::io::Read;
use std::path::Path;

/// The largest file [`from_path`] and [`read_input`] read: 4 MiB. A contract at the default
/// code-length limit (65,536 instructions) takes well under 2 MiB of assembly and under
/// 1 MiB of `.cvm` bytes.
pub const MAX_INPUT_BYTES: u64 = 4 * 1024 * 1024;

/// Why a contract could not be loaded or verified. `Display` shows a located diagnostic.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_INPUT_BYTES`].
    #[error("{path}: the file is larger than the {limit}-byte input limit ({} MiB); contract files are refused beyond it", limit / (1024 * 1024))]
    TooLarge {
        /// The path.
        path: String,
        /// The limit in bytes ([`MAX_INPUT_BYTES`]).
        limit: u64,
    },
    /// The contract has no instructions.
    #[error("{path}: the contract has no instructions (a contract needs at least one; one that does nothing is `halt`)")]
    Empty {
        /// The path.
        path: String,
    },
    /// The contract's id is reserved (see [`crate::address::check_reserved`]).
    #[error("{path}: {message}")]
    ReservedId {
        /// The path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The file is neither UTF-8 text nor a coopvm binary.
    #[error("{path}: not a coopvm contract (neither UTF-8 assembly text nor `.cvm` bytes)")]
    NotAContract {
        /// The path.
        path: String,
    },
    /// Assembly failed.
    #[error("{0}")]
    Asm(#[from] Box<AsmError>),
    /// The bytes are not a canonical encoding.
    #[error("{path}: {source}")]
    Decode {
        /// The path.
        path: String,
        /// The decoding error.
        source: DecodeError,
    },
    /// The verifier rejected the contract.
    #[error("{rendered}")]
    Verify {
        /// The verifier's error.
        error: VerifyError,
        /// The error, located in the source where there is one.
        rendered: String,
    },
}

/// A contract as loaded, with its source map when it came from text.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The contract.
    pub contract: Contract,
    /// Where each instruction came from (empty spans for binary input).
    pub map: SourceMap,
}

impl Loaded {
    /// Verifies the contract, rendering a rejection against the source.
    pub fn verify(self, limits: &Limits) -> Result<Verified, LoadError> {
        let map = self.map;
        verify(self.contract, limits).map_err(|error| LoadError::Verify {
            rendered: render(
                &map,
                error.pc(),
                &format!("verification failed: {error}"),
                None,
            ),
            error,
        })
    }
}

/// Renders a message about instruction `pc` of a loaded contract: a source diagnostic when
/// the contract came from text, else `file: instruction N: message`.
pub fn render(map: &SourceMap, pc: Option<u32>, message: &str, help: Option<String>) -> String {
    match pc.and_then(|pc| map.span(pc)) {
        Some(_) => map.diagnostic(pc, message, help).to_string(),
        None => {
            let d: Diagnostic = map.diagnostic(None, message, help);
            format!("error: {}: {}", d.file, d.message)
        }
    }
}

/// Assembles `source` (named `file` in errors).
pub fn from_source(file: &str, source: &str) -> Result<Loaded, LoadError> {
    let (contract, map) = assemble_with_map(file, source).map_err(Box::new)?;
    finish(file, contract, map)
}

/// What every loaded contract goes through: it must have code, an anonymous one gets its
/// address, and an id of the address form must be its own.
fn finish(file: &str, mut contract: Contract, map: SourceMap) -> Result<Loaded, LoadError> {
    if contract.program.code.is_empty() {
        return Err(LoadError::Empty {
            path: file.to_owned(),
        });
    }
    if contract.id.is_empty() {
        contract.id = address::address(&contract);
    } else {
        address::check_reserved(&contract).map_err(|message| LoadError::ReservedId {
            path: file.to_owned(),
            message,
        })?;
    }
    Ok(Loaded { contract, map })
}

/// Loads `bytes` named `file`: canonical `.cvm` bytes if they start with the magic, else
/// assembly text.
pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<Loaded, LoadError> {
    if bytes.starts_with(codec::MAGIC) {
        let contract = codec::decode(bytes).map_err(|source| LoadError::Decode {
            path: file.to_owned(),
            source,
        })?;
        let map = SourceMap {
            file: file.to_owned(),
            ..Default::default()
        };
        return finish(file, contract, map);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| LoadError::NotAContract {
        path: file.to_owned(),
    })?;
    from_source(file, text)
}

/// Reads and loads the file at `path` (at most [`MAX_INPUT_BYTES`]).
pub fn from_path(path: &Path) -> Result<Loaded, LoadError> {
    let bytes = read_input(path)?;
    from_bytes(&path.display().to_string(), &bytes)
}

/// Reads the file at `path`, refusing it if it holds more than [`MAX_INPUT_BYTES`]. Reads at
/// most one byte more than the limit, so devices and pipes without an end (`/dev/zero`) stop
/// there.
pub fn read_input(path: &Path) -> Result<Vec<u8>, LoadError> {
    read_capped(path, MAX_INPUT_BYTES)
}

fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, LoadError> {
    let name = || path.display().to_string();
    let io = |source| LoadError::Io {
        path: name(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(LoadError::TooLarge {
            path: name(),
            limit,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_over_the_cap_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.casm");
        let line = "push 1\n";
        let n = MAX_INPUT_BYTES as usize / line.len() + 1;
        std::fs::write(&path, line.repeat(n)).unwrap();
        let e = from_path(&path).unwrap_err();
        assert!(
            matches!(
                e,
                LoadError::TooLarge {
                    limit: MAX_INPUT_BYTES,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("4 MiB"), "{e}");
        // Exactly at the cap is read (and then judged on its contents).
        std::fs::write(&path, vec![b' '; MAX_INPUT_BYTES as usize]).unwrap();
        assert!(matches!(read_input(&path), Ok(b) if b.len() as u64 == MAX_INPUT_BYTES));
        // A small cap, to see the boundary exactly.
        std::fs::write(&path, b"push 1\n").unwrap();
        assert!(read_capped(&path, 7).is_ok());
        assert!(matches!(
            read_capped(&path, 6),
            Err(LoadError::TooLarge { limit: 6, .. })
        ));
        std::fs::remove_file(&path).ok();
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_device_stops_at_the_cap() {
        let e = from_path(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(e, LoadError::TooLarge { .. }), "{e}");
    }

    #[test]
    fn contracts_without_instructions_are_refused() {
        for src in [
            "",
            "; only a comment\n",
            ".contract x\n.state n 0\n",
            "l:\n",
        ] {
            let e = from_source("e.casm", src).unwrap_err();
            assert!(matches!(e, LoadError::Empty { .. }), "{src:?}: {e}");
            assert!(e.to_string().contains("no instructions"), "{e}");
        }
        let empty = codec::encode(&Contract {
            id: "x".into(),
            ..Default::default()
        });
        assert!(matches!(
            from_bytes("e.cvm", &empty),
            Err(LoadError::Empty { .. })
        ));
    }

    #[test]
    fn anonymous_contracts_get_their_code_address() {
        let a = from_source("a.casm", "push 1\n").unwrap().contract;
        let b = from_source("b.casm", "push 2\n").unwrap().contract;
        assert!(address::is_address(&a.id), "{}", a.id);
        assert_ne!(a.id, b.id);
        // The same code from another file, or as `.cvm` bytes, has the same address.
        assert_eq!(
            from_source("c.casm", "push 1 ; again\n")
                .unwrap()
                .contract
                .id,
            a.id
        );
        let bytes = codec::encode(&a);
        assert_eq!(from_bytes("a.cvm", &bytes).unwrap().contract, a);
        // An explicit `.contract ""` is anonymous too.
        let quoted = from_source("q.casm", ".contract \"\"\npush 1\n")
            .unwrap()
            .contract;
        assert_eq!(quoted.id, a.id);
        // Declaring another contract's address is refused.
        let squat = format!(".contract {}\npush 2\n", a.id);
        let e = from_source("s.casm", &squat).unwrap_err();
        assert!(matches!(e, LoadError::ReservedId { .. }), "{e}");
        // Declaring its own address is fine.
        let own = format!(".contract {}\npush 1\n", a.id);
        assert_eq!(from_source("o.casm", &own).unwrap().contract, a);
    }
}

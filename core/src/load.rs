//! Loading contracts from `.casm` text or canonical `.cvm` bytes, with located errors.

use crate::asm::{assemble_with_map, AsmError, Diagnostic, SourceMap};
use crate::codec::{self, DecodeError};
use crate::{verify, Contract, Limits, Verified, VerifyError};
use std::path::Path;

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
        return Ok(Loaded { contract, map });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| LoadError::NotAContract {
        path: file.to_owned(),
    })?;
    from_source(file, text)
}

/// Reads and loads the file at `path`.
pub fn from_path(path: &Path) -> Result<Loaded, LoadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: name.clone(),
        source,
    })?;
    from_bytes(&name, &bytes)
}

//! The canonical binary form of a [`Contract`] (`.cvm` files), specified in
//! `docs/binary-format.md`.
//!
//! Every contract has exactly one encoding, and decoding accepts only that encoding:
//! `decode(encode(c)) == Ok(c)` for every contract, and `encode(decode(b)?) == b` for every
//! byte string that decodes. Decoding never panics and never allocates more than the input
//! can justify.
//!
//! ```
//! use coopvm_core::{asm::assemble, codec};
//! let c = assemble("t.casm", ".contract t\npush 1\nhalt\n").unwrap();
//! let bytes = codec::encode(&c);
//! assert_eq!(&bytes[..4], codec::MAGIC);
//! assert_eq!(codec::decode(&bytes).unwrap(), c);
//! ```

use crate::isa::{Op, OperandKind};
use crate::program::{Contract, Insn, Program, State};
use crate::wire::{put_bytes, put_int, put_uint, Reader, WireError};
use std::collections::BTreeMap;

/// The first four bytes of every encoded contract.
pub const MAGIC: &[u8; 4] = b"\0cvm";
/// The format version of a contract without inputs (`.params 0`); this build writes it
/// for every such contract, so their bytes are what they were before inputs existed.
pub const FORMAT_VERSION: u8 = 1;
/// The format version of a contract with inputs (`.params N`, N >= 1): version 1's layout
/// plus the number of inputs before the code. A version-2 encoding of a contract without
/// inputs is not canonical and does not decode.
pub const FORMAT_VERSION_PARAMS: u8 = 2;

/// Why bytes are not a canonical contract encoding.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid contract bytes at offset {offset}: {message}")]
pub struct DecodeError {
    /// Byte offset where decoding failed.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl From<WireError> for DecodeError {
    fn from(e: WireError) -> Self {
        DecodeError {
            offset: e.offset,
            message: e.message,
        }
    }
}

/// Encodes `contract` canonically.
pub fn encode(contract: &Contract) -> Vec<u8> {
    let mut w = Vec::with_capacity(64 + contract.program.code.len() * 3);
    w.extend_from_slice(MAGIC);
    w.push(if contract.params == 0 {
        FORMAT_VERSION
    } else {
        FORMAT_VERSION_PARAMS
    });
    put_str(&mut w, &contract.id);
    put_str(&mut w, &contract.version);
    put_int(&mut w, contract.required_reputation);
    put_list(&mut w, &contract.permissions);
    put_list(&mut w, &contract.dependencies);
    put_uint(&mut w, contract.metadata.len() as u64);
    for (k, v) in &contract.metadata {
        put_str(&mut w, k);
        put_str(&mut w, v);
    }
    put_uint(&mut w, contract.state.len() as u64);
    for (k, v) in &contract.state {
        put_str(&mut w, k);
        put_int(&mut w, *v);
    }
    put_list(&mut w, &contract.program.keys);
    put_list(&mut w, &contract.program.strings);
    if contract.params != 0 {
        put_uint(&mut w, u64::from(contract.params));
    }
    put_uint(&mut w, contract.program.code.len() as u64);
    for insn in &contract.program.code {
        w.push(insn.op as u8);
        match insn.op.info().operand {
            OperandKind::None => {}
            OperandKind::Imm => put_int(&mut w, insn.arg),
            OperandKind::Str | OperandKind::Key | OperandKind::Target => {
                put_uint(&mut w, insn.arg as u64)
            }
        }
    }
    w
}

/// Decodes a canonical encoding. Operand-less instructions decode with `arg` 0; range checks
/// of operands are the verifier's job.
pub fn decode(bytes: &[u8]) -> Result<Contract, DecodeError> {
    let mut r = Reader::new(bytes);
    let format = r.header_in(
        MAGIC,
        FORMAT_VERSION..=FORMAT_VERSION_PARAMS,
        "coopvm contract",
    )?;
    let id = r.string()?;
    let version = r.string()?;
    let required_reputation = r.int()?;
    let permissions = list(&mut r)?;
    let dependencies = list(&mut r)?;
    let mut metadata = BTreeMap::new();
    let n = r.count()?;
    for _ in 0..n {
        let at = r.pos();
        let k = r.string()?;
        let v = r.string()?;
        if metadata
            .last_key_value()
            .is_some_and(|(last, _)| *last >= k)
        {
            return Err(r
                .fail_at(at, "metadata keys must be strictly ascending")
                .into());
        }
        metadata.insert(k, v);
    }
    let mut state = State::new();
    let n = r.count()?;
    for _ in 0..n {
        let at = r.pos();
        let k = r.string()?;
        let v = r.int()?;
        if state
            .last_key_value()
            .is_some_and(|(last, _)| last.as_str() >= k.as_str())
        {
            return Err(r
                .fail_at(at, "state keys must be strictly ascending")
                .into());
        }
        state.insert(k.into(), v);
    }
    let keys = list(&mut r)?;
    let strings = list(&mut r)?;
    let params = if format == FORMAT_VERSION_PARAMS {
        let at = r.pos();
        match u32::try_from(r.uint()?) {
            Ok(0) => {
                return Err(r
                    .fail_at(at, "a version 2 contract has at least one input (one without is written as version 1)")
                    .into())
            }
            Ok(n) => n,
            Err(_) => return Err(r.fail_at(at, "the number of inputs exceeds 32 bits").into()),
        }
    } else {
        0
    };
    let n = r.count()?;
    let mut code = Vec::with_capacity(n);
    for _ in 0..n {
        let at = r.pos();
        let b = r.byte()?;
        let Some(op) = Op::from_byte(b) else {
            return Err(r.fail_at(at, &format!("0x{b:02x} is not an opcode")).into());
        };
        let arg = match op.info().operand {
            OperandKind::None => 0,
            OperandKind::Imm => r.int()?,
            OperandKind::Str | OperandKind::Key | OperandKind::Target => r.uint()? as i64,
        };
        code.push(Insn { op, arg });
    }
    if !r.at_end() {
        return Err(r.fail("trailing bytes after the code").into());
    }
    Ok(Contract {
        id,
        version,
        required_reputation,
        permissions,
        dependencies,
        metadata,
        state,
        params,
        program: Program {
            code,
            keys,
            strings,
        },
    })
}

fn list(r: &mut Reader<'_>) -> Result<Vec<String>, WireError> {
    let n = r.count()?;
    (0..n).map(|_| r.string()).collect()
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    put_bytes(w, s.as_bytes());
}

fn put_list(w: &mut Vec<u8>, items: &[String]) {
    put_uint(w, items.len() as u64);
    for s in items {
        put_str(w, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Contract {
        crate::asm::assemble(
            "t",
            ".contract c\n.version 1\n.reputation -5\n.permission p\n.depends d\n.meta b 2\n.meta a 1\n.state x 3\n.state -1 4\nl: push -9\npush \"s\"\nstore x\nload\njump l\n",
        )
        .unwrap()
    }

    #[test]
    fn round_trip() {
        let c = sample();
        let b = encode(&c);
        assert_eq!(decode(&b).unwrap(), c);
        assert_eq!(encode(&decode(&b).unwrap()), b);
    }

    #[test]
    fn params_use_version_2_and_only_when_needed() {
        let plain = sample();
        assert_eq!(encode(&plain)[4], FORMAT_VERSION);
        let mut c = sample();
        for n in [1, 2, 300, u32::MAX] {
            c.params = n;
            let b = encode(&c);
            assert_eq!(b[4], FORMAT_VERSION_PARAMS);
            assert_eq!(decode(&b).unwrap(), c);
            assert_eq!(encode(&decode(&b).unwrap()), b);
            for k in 0..b.len() {
                assert!(decode(&b[..k]).is_err(), "prefix of {k} bytes decoded");
            }
        }
        // Version 2 with 0 inputs is not canonical; neither is an input count beyond 32 bits.
        let plain_bytes = encode(&plain);
        let code_at = code_offset(&plain);
        let mut b = plain_bytes.clone();
        b[4] = FORMAT_VERSION_PARAMS;
        b.insert(code_at, 0);
        let e = decode(&b).unwrap_err();
        assert!(e.message.contains("at least one input"), "{e}");
        assert_eq!(e.offset, code_at);
        let mut b = plain_bytes.clone();
        b[4] = FORMAT_VERSION_PARAMS;
        for (i, byte) in [0x80, 0x80, 0x80, 0x80, 0x10].into_iter().enumerate() {
            b.insert(code_at + i, byte);
        }
        assert!(decode(&b).unwrap_err().message.contains("32 bits"));
        // A version 1 contract has no input count to read.
        let mut b = encode(&c);
        b[4] = FORMAT_VERSION;
        assert!(decode(&b).is_err() || decode(&b).unwrap() != c);
    }

    /// The offset of the code length in `c`'s encoding (`c` without inputs).
    fn code_offset(c: &Contract) -> usize {
        let without = Contract {
            program: Program {
                code: Vec::new(),
                ..c.program.clone()
            },
            ..c.clone()
        };
        // Without code, the encoding ends with the code length 0 (one byte).
        encode(&without).len() - 1
    }

    #[test]
    fn rejects_every_truncation_and_trailing_bytes() {
        let b = encode(&sample());
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err(), "prefix of {n} bytes decoded");
        }
        let mut long = b.clone();
        long.push(0);
        assert!(decode(&long).unwrap_err().message.contains("trailing"));
    }

    #[test]
    fn rejects_non_canonical_forms() {
        // Bad magic, bad version.
        assert!(decode(b"cvm\0\x01").unwrap_err().message.contains("magic"));
        assert!(decode(b"\0cvm\x03")
            .unwrap_err()
            .message
            .contains("version 3 is not supported (this build reads versions 1 to 2)"));
        // An overlong varint for the id length (0 written as 0x80 0x00).
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[1, 0x80, 0x00]);
        assert!(decode(&b).unwrap_err().message.contains("minimally"));
        // Unsorted metadata.
        let mut c = Contract::default();
        c.metadata.insert("a".into(), String::new());
        c.metadata.insert("b".into(), String::new());
        let mut b = encode(&c);
        let i = b.windows(2).position(|w| w == [1, b'a']).unwrap();
        b[i + 1] = b'c';
        assert!(decode(&b).unwrap_err().message.contains("ascending"));
        // Bad opcode and bad UTF-8.
        let mut c = Contract::default();
        c.program.code.push(Insn::new(Op::Add));
        let mut b = encode(&c);
        *b.last_mut().unwrap() = 0xee;
        assert!(decode(&b).unwrap_err().message.contains("not an opcode"));
        let c = Contract {
            id: "é".into(),
            ..Default::default()
        };
        let mut b = encode(&c);
        b[6] = 0xff;
        assert!(decode(&b).unwrap_err().message.contains("UTF-8"));
        // A huge length does not allocate.
        let mut b = MAGIC.to_vec();
        b.push(1);
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode(&b).unwrap_err().message.contains("exceeds"));
    }
}

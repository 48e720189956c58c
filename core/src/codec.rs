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
use crate::program::{Contract, Insn, Program};
use std::collections::BTreeMap;

/// The first four bytes of every encoded contract.
pub const MAGIC: &[u8; 4] = b"\0cvm";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;

/// Why bytes are not a canonical contract encoding.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid contract bytes at offset {offset}: {message}")]
pub struct DecodeError {
    /// Byte offset where decoding failed.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// Encodes `contract` canonically.
pub fn encode(contract: &Contract) -> Vec<u8> {
    let mut w = Vec::with_capacity(64 + contract.program.code.len() * 3);
    w.extend_from_slice(MAGIC);
    w.push(FORMAT_VERSION);
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
    let mut r = Reader { bytes, pos: 0 };
    if bytes.len() < 5 || &bytes[..4] != MAGIC {
        return Err(r.fail("not a coopvm contract (bad magic)"));
    }
    r.pos = 4;
    let version = r.byte()?;
    if version != FORMAT_VERSION {
        r.pos = 4;
        return Err(r.fail(&format!(
            "format version {version} is not supported (this build reads version {FORMAT_VERSION})"
        )));
    }
    let id = r.string()?;
    let version = r.string()?;
    let required_reputation = r.int()?;
    let permissions = r.list()?;
    let dependencies = r.list()?;
    let mut metadata = BTreeMap::new();
    let n = r.count()?;
    for _ in 0..n {
        let at = r.pos;
        let k = r.string()?;
        let v = r.string()?;
        if metadata
            .last_key_value()
            .is_some_and(|(last, _)| *last >= k)
        {
            r.pos = at;
            return Err(r.fail("metadata keys must be strictly ascending"));
        }
        metadata.insert(k, v);
    }
    let mut state = BTreeMap::new();
    let n = r.count()?;
    for _ in 0..n {
        let at = r.pos;
        let k = r.string()?;
        let v = r.int()?;
        if state.last_key_value().is_some_and(|(last, _)| *last >= k) {
            r.pos = at;
            return Err(r.fail("state keys must be strictly ascending"));
        }
        state.insert(k, v);
    }
    let keys = r.list()?;
    let strings = r.list()?;
    let n = r.count()?;
    let mut code = Vec::with_capacity(n);
    for _ in 0..n {
        let at = r.pos;
        let b = r.byte()?;
        let Some(op) = Op::from_byte(b) else {
            r.pos = at;
            return Err(r.fail(&format!("0x{b:02x} is not an opcode")));
        };
        let arg = match op.info().operand {
            OperandKind::None => 0,
            OperandKind::Imm => r.int()?,
            OperandKind::Str | OperandKind::Key | OperandKind::Target => r.uint()? as i64,
        };
        code.push(Insn { op, arg });
    }
    if r.pos != bytes.len() {
        return Err(r.fail("trailing bytes after the code"));
    }
    Ok(Contract {
        id,
        version,
        required_reputation,
        permissions,
        dependencies,
        metadata,
        state,
        program: Program {
            code,
            keys,
            strings,
        },
    })
}

fn put_uint(w: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        w.push((v as u8) | 0x80);
        v >>= 7;
    }
    w.push(v as u8);
}

fn put_int(w: &mut Vec<u8>, v: i64) {
    put_uint(w, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    put_uint(w, s.len() as u64);
    w.extend_from_slice(s.as_bytes());
}

fn put_list(w: &mut Vec<u8>, items: &[String]) {
    put_uint(w, items.len() as u64);
    for s in items {
        put_str(w, s);
    }
}

struct Reader<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl Reader<'_> {
    fn fail(&self, message: &str) -> DecodeError {
        DecodeError {
            offset: self.pos,
            message: message.to_owned(),
        }
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| self.fail("unexpected end of input"))?;
        self.pos += 1;
        Ok(b)
    }

    /// LEB128, minimal length only, at most 64 bits.
    fn uint(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                self.pos = start;
                return Err(self.fail("integer does not fit in 64 bits"));
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    self.pos = start;
                    return Err(self.fail("integer is not minimally encoded"));
                }
                return Ok(v);
            }
        }
        self.pos = start;
        Err(self.fail("integer is longer than 10 bytes"))
    }

    fn int(&mut self) -> Result<i64, DecodeError> {
        let u = self.uint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A length, which cannot exceed the bytes left (every element takes at least one byte).
    fn count(&mut self) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.uint()?;
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left {
            self.pos = at;
            return Err(self.fail(&format!("length {n} exceeds the {left} bytes left")));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let n = self.count()?;
        let raw = &self.bytes[self.pos..self.pos + n];
        let s = std::str::from_utf8(raw).map_err(|_| self.fail("string is not valid UTF-8"))?;
        self.pos += n;
        Ok(s.to_owned())
    }

    fn list(&mut self) -> Result<Vec<String>, DecodeError> {
        let n = self.count()?;
        (0..n).map(|_| self.string()).collect()
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
        assert!(decode(b"\0cvm\x02")
            .unwrap_err()
            .message
            .contains("version 2"));
        // An overlong varint for the id length (0 written as 0x80 0x00).
        let mut r = Reader {
            bytes: &[0x80, 0x00],
            pos: 0,
        };
        assert!(r.uint().unwrap_err().message.contains("minimally"));
        let mut r = Reader {
            bytes: &[0xff; 11],
            pos: 0,
        };
        assert!(r.uint().is_err());
        let mut r = Reader {
            bytes: &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            pos: 0,
        };
        assert_eq!(r.uint().unwrap(), u64::MAX);
        let mut r = Reader {
            bytes: &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            pos: 0,
        };
        assert!(r.uint().unwrap_err().message.contains("64 bits"));
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

//! [`DataValue`]: the VM-independent data model, and its one canonical binary encoding
//! (specified in `docs/datavalue.md`).
//!
//! Every value has exactly one encoding and decoding accepts only that encoding:
//! `DataValue::from_bytes(&v.to_bytes()) == Ok(v)` for every value within
//! [`MAX_DEPTH`], and `DataValue::from_bytes(b)?.to_bytes() == b` for every byte string that
//! decodes. Decoding never panics, never recurses deeper than [`MAX_DEPTH`] and never
//! allocates more than the input can justify.
//!
//! ```
//! use coopvm::vmi::DataValue;
//! let v = DataValue::List(vec![DataValue::Int(-3), DataValue::Bytes(b"hi".to_vec())]);
//! let bytes = v.to_bytes();
//! assert_eq!(DataValue::from_bytes(&bytes), Ok(v.clone()));
//! assert_eq!(v.to_string(), "[-3, \"hi\"]");
//! ```

use std::fmt;

/// The first four bytes of every encoded [`DataValue`].
pub const MAGIC: &[u8; 4] = b"\0cdv";
/// The encoding version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// The deepest nesting of lists that [`DataValue::from_bytes`] accepts (a top-level list is
/// depth 1). Values nested deeper can be built in memory and encoded, but not decoded.
pub const MAX_DEPTH: usize = 64;

const TAG_INT: u8 = 0x00;
const TAG_BYTES: u8 = 0x01;
const TAG_LIST: u8 = 0x02;
const TAG_FUNCTION: u8 = 0x03;

/// A VM-independent value: what protocol components store, hash and pass between VMs.
///
/// Integers are signed 64-bit (coopvm's word); a pair is a [`DataValue::List`] of two
/// elements. A function is a [`DataValue::FunctionV`]: the number of the VM that can
/// evaluate it and that VM's serialisation of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataValue {
    /// A signed 64-bit integer.
    Int(i64),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list of values (a pair is a list of two).
    List(Vec<DataValue>),
    /// A function of the VM numbered `vm`, serialised by that VM.
    FunctionV {
        /// The VM's number in the registry.
        vm: u64,
        /// The function as that VM serialises it.
        code: Vec<u8>,
    },
}

/// Why bytes are not the canonical encoding of a [`DataValue`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid DataValue bytes at offset {offset}: {message}")]
pub struct DataDecodeError {
    /// Byte offset where decoding failed.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl DataValue {
    /// The canonical encoding: [`MAGIC`], [`FORMAT_VERSION`], then the value.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(16);
        w.extend_from_slice(MAGIC);
        w.push(FORMAT_VERSION);
        self.write(&mut w);
        w
    }

    /// Decodes a canonical encoding, rejecting anything else (bad magic or version,
    /// non-minimal integers, unknown tags, nesting deeper than [`MAX_DEPTH`], truncation,
    /// trailing bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<DataValue, DataDecodeError> {
        let mut r = Reader { bytes, pos: 0 };
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(r.fail("not a DataValue (bad magic)"));
        }
        r.pos = MAGIC.len();
        let version = r.byte()?;
        if version != FORMAT_VERSION {
            r.pos = MAGIC.len();
            return Err(r.fail(&format!(
                "DataValue format version {version} is not supported (this build reads version {FORMAT_VERSION})"
            )));
        }
        let v = r.value(0)?;
        if r.pos != bytes.len() {
            return Err(r.fail("trailing bytes after the value"));
        }
        Ok(v)
    }

    /// How deeply lists nest in this value (0 for a non-list).
    pub fn depth(&self) -> usize {
        // Iterative, so that measuring a very deep value cannot overflow the stack.
        let mut max = 0;
        let mut todo: Vec<(&DataValue, usize)> = vec![(self, 0)];
        while let Some((v, d)) = todo.pop() {
            if let DataValue::List(items) = v {
                max = max.max(d + 1);
                todo.extend(items.iter().map(|i| (i, d + 1)));
            }
        }
        max
    }

    fn write(&self, w: &mut Vec<u8>) {
        match self {
            DataValue::Int(n) => {
                w.push(TAG_INT);
                put_int(w, *n);
            }
            DataValue::Bytes(b) => {
                w.push(TAG_BYTES);
                put_uint(w, b.len() as u64);
                w.extend_from_slice(b);
            }
            DataValue::List(items) => {
                w.push(TAG_LIST);
                put_uint(w, items.len() as u64);
                for i in items {
                    i.write(w);
                }
            }
            DataValue::FunctionV { vm, code } => {
                w.push(TAG_FUNCTION);
                put_uint(w, *vm);
                put_uint(w, code.len() as u64);
                w.extend_from_slice(code);
            }
        }
    }
}

impl fmt::Display for DataValue {
    /// A one-line rendering: integers in decimal, byte strings as Rust-escaped strings
    /// (`"hi\xff"`), lists in brackets, functions as `fn<vm N>(K bytes)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataValue::Int(n) => write!(f, "{n}"),
            DataValue::Bytes(b) => write!(f, "\"{}\"", b.escape_ascii()),
            DataValue::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            DataValue::FunctionV { vm, code } => write!(f, "fn<vm {vm}>({} bytes)", code.len()),
        }
    }
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

struct Reader<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl Reader<'_> {
    fn fail(&self, message: &str) -> DataDecodeError {
        DataDecodeError {
            offset: self.pos,
            message: message.to_owned(),
        }
    }

    fn byte(&mut self) -> Result<u8, DataDecodeError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| self.fail("unexpected end of input"))?;
        self.pos += 1;
        Ok(b)
    }

    /// Unsigned LEB128, minimal length only, at most 64 bits.
    fn uint(&mut self) -> Result<u64, DataDecodeError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                self.pos = start;
                return Err(self.fail("integer does not fit in 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    self.pos = start;
                    return Err(self.fail("integer is not minimally encoded"));
                }
                return Ok(v);
            }
        }
        // Not reached: at i == 9 a byte above 1 fails above and any other byte ends the loop.
        self.pos = start;
        Err(self.fail("integer is longer than 10 bytes"))
    }

    /// A length that cannot exceed the bytes left (each element takes at least one byte).
    fn count(&mut self) -> Result<usize, DataDecodeError> {
        let at = self.pos;
        let n = self.uint()?;
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left {
            self.pos = at;
            return Err(self.fail(&format!("length {n} exceeds the {left} bytes left")));
        }
        Ok(n as usize)
    }

    fn raw(&mut self) -> Result<Vec<u8>, DataDecodeError> {
        let n = self.count()?;
        let out = self.bytes[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(out)
    }

    fn value(&mut self, depth: usize) -> Result<DataValue, DataDecodeError> {
        let at = self.pos;
        match self.byte()? {
            TAG_INT => {
                let u = self.uint()?;
                Ok(DataValue::Int(((u >> 1) as i64) ^ -((u & 1) as i64)))
            }
            TAG_BYTES => Ok(DataValue::Bytes(self.raw()?)),
            TAG_LIST => {
                if depth >= MAX_DEPTH {
                    self.pos = at;
                    return Err(self.fail(&format!("lists nest deeper than {MAX_DEPTH}")));
                }
                let n = self.count()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Ok(DataValue::List(items))
            }
            TAG_FUNCTION => {
                let vm = self.uint()?;
                let code = self.raw()?;
                Ok(DataValue::FunctionV { vm, code })
            }
            tag => {
                self.pos = at;
                Err(self.fail(&format!("0x{tag:02x} is not a DataValue tag")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DataValue {
        DataValue::List(vec![
            DataValue::Int(0),
            DataValue::Int(i64::MIN),
            DataValue::Int(i64::MAX),
            DataValue::Bytes(vec![]),
            DataValue::Bytes(vec![0xff, b'a']),
            DataValue::List(vec![]),
            DataValue::FunctionV {
                vm: 300,
                code: vec![1, 2, 3],
            },
        ])
    }

    #[test]
    fn round_trip() {
        let v = sample();
        let b = v.to_bytes();
        assert_eq!(DataValue::from_bytes(&b), Ok(v));
    }

    #[test]
    fn known_bytes() {
        // Pinned: changing these bytes is a format change and needs a new version.
        assert_eq!(DataValue::Int(-1).to_bytes(), b"\0cdv\x01\x00\x01");
        assert_eq!(
            DataValue::List(vec![DataValue::Int(1), DataValue::Bytes(b"a".to_vec())]).to_bytes(),
            b"\0cdv\x01\x02\x02\x00\x02\x01\x01a"
        );
        assert_eq!(
            DataValue::FunctionV {
                vm: 1,
                code: vec![9]
            }
            .to_bytes(),
            b"\0cdv\x01\x03\x01\x01\x09"
        );
    }

    #[test]
    fn rejects_every_truncation_and_trailing_bytes() {
        let b = sample().to_bytes();
        for n in 0..b.len() {
            assert!(
                DataValue::from_bytes(&b[..n]).is_err(),
                "prefix {n} decoded"
            );
        }
        let mut long = b.clone();
        long.push(0);
        let e = DataValue::from_bytes(&long).unwrap_err();
        assert!(e.message.contains("trailing"), "{e}");
        assert_eq!(e.offset, b.len());
    }

    #[test]
    fn rejects_bad_header() {
        assert!(DataValue::from_bytes(b"")
            .unwrap_err()
            .message
            .contains("magic"));
        assert!(DataValue::from_bytes(b"\0cvm\x01\x00\x00")
            .unwrap_err()
            .message
            .contains("magic"));
        let e = DataValue::from_bytes(b"\0cdv\x02\x00\x00").unwrap_err();
        assert!(e.message.contains("version 2"), "{e}");
    }

    #[test]
    fn rejects_non_canonical_integers() {
        // 1 encoded in two bytes.
        let e = DataValue::from_bytes(b"\0cdv\x01\x00\x82\x00").unwrap_err();
        assert!(e.message.contains("minimal"), "{e}");
        // Eleven continuation bytes.
        let mut b = b"\0cdv\x01\x00".to_vec();
        b.extend([0xff; 9]);
        b.push(0x02);
        let e = DataValue::from_bytes(&b).unwrap_err();
        assert!(e.message.contains("64 bits"), "{e}");
        let mut b = b"\0cdv\x01\x00".to_vec();
        b.extend([0xff; 10]);
        let e = DataValue::from_bytes(&b).unwrap_err();
        assert!(e.message.contains("64 bits"), "{e}");
        // The largest value: u64::MAX zigzag = i64::MIN.
        let mut b = b"\0cdv\x01\x00".to_vec();
        b.extend([0xff; 9]);
        b.push(0x01);
        assert_eq!(DataValue::from_bytes(&b), Ok(DataValue::Int(i64::MIN)));
    }

    #[test]
    fn rejects_unknown_tags_and_huge_lengths() {
        let e = DataValue::from_bytes(b"\0cdv\x01\x07").unwrap_err();
        assert!(e.message.contains("tag"), "{e}");
        assert_eq!(e.offset, 5);
        // A list claiming u64::MAX/2 elements must fail before allocating.
        let mut b = b"\0cdv\x01\x02".to_vec();
        b.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        let e = DataValue::from_bytes(&b).unwrap_err();
        assert!(e.message.contains("exceeds"), "{e}");
        let e = DataValue::from_bytes(b"\0cdv\x01\x01\x05ab").unwrap_err();
        assert!(e.message.contains("exceeds"), "{e}");
        let e = DataValue::from_bytes(b"\0cdv\x01\x03\x01\x05ab").unwrap_err();
        assert!(e.message.contains("exceeds"), "{e}");
    }

    #[test]
    fn depth_limit() {
        let mut v = DataValue::Int(1);
        for _ in 0..MAX_DEPTH {
            v = DataValue::List(vec![v]);
        }
        assert_eq!(v.depth(), MAX_DEPTH);
        assert_eq!(DataValue::from_bytes(&v.to_bytes()), Ok(v.clone()));
        let deeper = DataValue::List(vec![v]);
        let e = DataValue::from_bytes(&deeper.to_bytes()).unwrap_err();
        assert!(e.message.contains("deeper"), "{e}");
        // A long run of list openers is rejected without deep recursion.
        let mut b = b"\0cdv\x01".to_vec();
        for _ in 0..100_000 {
            b.extend([TAG_LIST, 1]);
        }
        assert!(DataValue::from_bytes(&b).is_err());
    }

    #[test]
    fn display() {
        assert_eq!(
            sample().to_string(),
            "[0, -9223372036854775808, 9223372036854775807, \"\", \"\\xffa\", [], fn<vm 300>(3 bytes)]"
        );
    }
}

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
//! use coopvm_vmi::DataValue;
//! let v = DataValue::List(vec![DataValue::Int(-3), DataValue::Bytes(b"hi".to_vec())]);
//! let bytes = v.to_bytes();
//! assert_eq!(DataValue::from_bytes(&bytes), Ok(v.clone()));
//! assert_eq!(v.to_string(), "[-3, \"hi\"]");
//! ```

use coopvm_core::wire::{put_bytes, put_int, put_uint, Reader, WireError};
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
        let mut r = Reader::new(bytes);
        r.header(MAGIC, FORMAT_VERSION, "DataValue")?;
        let v = value(&mut r, 0)?;
        if !r.at_end() {
            return Err(r.fail("trailing bytes after the value").into());
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
                put_bytes(w, b);
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
                put_bytes(w, code);
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

impl From<WireError> for DataDecodeError {
    fn from(e: WireError) -> Self {
        DataDecodeError {
            offset: e.offset,
            message: e.message,
        }
    }
}

fn value(r: &mut Reader<'_>, depth: usize) -> Result<DataValue, WireError> {
    let at = r.pos();
    match r.byte()? {
        TAG_INT => Ok(DataValue::Int(r.int()?)),
        TAG_BYTES => Ok(DataValue::Bytes(r.bytes()?.to_vec())),
        TAG_LIST => {
            if depth >= MAX_DEPTH {
                return Err(r.fail_at(at, &format!("lists nest deeper than {MAX_DEPTH}")));
            }
            let n = r.count()?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(value(r, depth + 1)?);
            }
            Ok(DataValue::List(items))
        }
        TAG_FUNCTION => {
            let vm = r.uint()?;
            let code = r.bytes()?.to_vec();
            Ok(DataValue::FunctionV { vm, code })
        }
        tag => Err(r.fail_at(at, &format!("0x{tag:02x} is not a DataValue tag"))),
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

//! Wire primitives shared by coopvm's canonical binary formats (contracts in
//! [`crate::codec`], and `DataValue`s in the root crate): minimal LEB128 integers, zigzag
//! signed integers, length-prefixed byte strings, and a bounds-checked reader that never
//! panics and never trusts a length beyond the bytes left.
//!
//! ```
//! use coopvm_core::wire::{put_int, put_uint, Reader};
//! let mut w = Vec::new();
//! put_uint(&mut w, 300);
//! put_int(&mut w, -2);
//! let mut r = Reader::new(&w);
//! assert_eq!(r.uint(), Ok(300));
//! assert_eq!(r.int(), Ok(-2));
//! assert!(r.at_end());
//! ```

/// Why bytes are not canonical: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at offset {offset}: {message}")]
pub struct WireError {
    /// Byte offset where decoding failed.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// Appends `v` as unsigned LEB128 (minimal length).
pub fn put_uint(w: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        w.push((v as u8) | 0x80);
        v >>= 7;
    }
    w.push(v as u8);
}

/// Appends `v` zigzag-mapped, as unsigned LEB128.
pub fn put_int(w: &mut Vec<u8>, v: i64) {
    put_uint(w, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends `b` prefixed by its length.
pub fn put_bytes(w: &mut Vec<u8>, b: &[u8]) {
    put_uint(w, b.len() as u64);
    w.extend_from_slice(b);
}

/// A cursor over canonical bytes.
#[derive(Clone, Debug)]
pub struct Reader<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl<'b> Reader<'b> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'b [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// The current offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Whether every byte was read.
    pub fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// An error at the current offset.
    pub fn fail(&self, message: &str) -> WireError {
        self.fail_at(self.pos, message)
    }

    /// An error at offset `at`.
    pub fn fail_at(&self, at: usize, message: &str) -> WireError {
        WireError {
            offset: at,
            message: message.to_owned(),
        }
    }

    /// Checks the `magic` and version byte that start a format named `what`.
    pub fn header(&mut self, magic: &[u8], version: u8, what: &str) -> Result<(), WireError> {
        self.header_in(magic, version..=version, what).map(|_| ())
    }

    /// Checks the `magic` and a version byte within `versions` that start a format named
    /// `what`; returns the version.
    pub fn header_in(
        &mut self,
        magic: &[u8],
        versions: std::ops::RangeInclusive<u8>,
        what: &str,
    ) -> Result<u8, WireError> {
        if !self.bytes[self.pos..].starts_with(magic) {
            return Err(self.fail(&format!("not a {what} (bad magic)")));
        }
        self.pos += magic.len();
        let at = self.pos;
        let found = self.byte()?;
        if !versions.contains(&found) {
            let reads = if versions.start() == versions.end() {
                format!("version {}", versions.start())
            } else {
                format!("versions {} to {}", versions.start(), versions.end())
            };
            return Err(self.fail_at(
                at,
                &format!(
                    "{what} format version {found} is not supported (this build reads {reads})"
                ),
            ));
        }
        Ok(found)
    }

    /// One byte.
    pub fn byte(&mut self) -> Result<u8, WireError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| self.fail("unexpected end of input"))?;
        self.pos += 1;
        Ok(b)
    }

    /// Unsigned LEB128: minimal length only, at most 64 bits.
    pub fn uint(&mut self) -> Result<u64, WireError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                return Err(self.fail_at(start, "integer does not fit in 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(self.fail_at(start, "integer is not minimally encoded"));
                }
                return Ok(v);
            }
        }
        // Not reached: at i == 9 a byte above 1 fails above and any other byte ends the loop.
        Err(self.fail_at(start, "integer is longer than 10 bytes"))
    }

    /// A zigzag-mapped signed integer.
    pub fn int(&mut self) -> Result<i64, WireError> {
        let u = self.uint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A length or count, which cannot exceed the bytes left (every element takes at least
    /// one byte), so a hostile length cannot make the caller allocate.
    pub fn count(&mut self) -> Result<usize, WireError> {
        let at = self.pos;
        let n = self.uint()?;
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left {
            return Err(self.fail_at(at, &format!("length {n} exceeds the {left} bytes left")));
        }
        Ok(n as usize)
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'b [u8], WireError> {
        let n = self.count()?;
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// A length-prefixed UTF-8 string.
    pub fn string(&mut self) -> Result<String, WireError> {
        let at = self.pos;
        let raw = self.bytes()?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(self.fail_at(at, "string is not valid UTF-8")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minimal_and_bounded() {
        assert!(Reader::new(&[0x80, 0x00])
            .uint()
            .unwrap_err()
            .message
            .contains("minimally"));
        assert!(Reader::new(&[0xff; 11]).uint().is_err());
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&max).uint(), Ok(u64::MAX));
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(Reader::new(&over)
            .uint()
            .unwrap_err()
            .message
            .contains("64 bits"));
        for v in [0, 1, -1, i64::MIN, i64::MAX, 12345, -98765] {
            let mut w = Vec::new();
            put_int(&mut w, v);
            assert_eq!(Reader::new(&w).int(), Ok(v));
        }
    }

    #[test]
    fn lengths_cannot_exceed_the_input() {
        let e = Reader::new(&[0x05, 1, 2]).bytes().unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(e.message.contains("exceeds"));
        assert!(Reader::new(&[0x01, 0xff])
            .string()
            .unwrap_err()
            .message
            .contains("UTF-8"));
    }

    #[test]
    fn headers() {
        let mut r = Reader::new(b"MAG\x02");
        assert!(r
            .header(b"MAG", 1, "thing")
            .unwrap_err()
            .message
            .contains("version 2"));
        let mut r = Reader::new(b"MA");
        assert!(r
            .header(b"MAG", 1, "thing")
            .unwrap_err()
            .message
            .contains("bad magic"));
        let mut r = Reader::new(b"MAG\x01");
        assert!(r.header(b"MAG", 1, "thing").is_ok());
        assert!(r.at_end());
    }
}

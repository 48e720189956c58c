//! Identity: W3C DID syntax, the DID registry, and ed25519 signature checks.
//!
//! # Registration
//! A DID gets into the registry with its first `updatediddocument`, which only the DID
//! itself may make (the caller's DID must equal it); the caller becomes the DID's
//! controller, and from then on only the controller may replace the document.
//!
//! # Keys and signatures
//! `verifydid` takes the verification key from the DID itself for `did:key` DIDs holding an
//! ed25519 key (`did:key:z...`: multibase base58btc of the multicodec prefix `0xed 0x01`
//! followed by the 32 key bytes), else from the registered document when it is JSON with a
//! `publicKeyMultibase` member (top-level or in a `verificationMethod` entry) in that same
//! form. The signature is an ed25519 signature over the payload's UTF-8 bytes, written as
//! 128 hexadecimal digits (either case), checked with `verify_strict`.

use super::{caller, fail, DidRecord, Domain};
use coopvm_core::error::{ErrorKind, VmResult};
use coopvm_core::{EventValue, HostCx};
use ed25519_dalek::{Signature, VerifyingKey};

/// Longest DID, in bytes.
pub const MAX_DID_LEN: usize = 2048;
/// Largest DID document, in bytes.
pub const MAX_DOCUMENT_LEN: usize = 64 * 1024;
/// The multicodec prefix of an ed25519 public key.
pub const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];

/// Whether `did` is a DID by the W3C DID Core syntax:
/// `did:` method-name `:` method-specific-id, where the method name is one or more of
/// `a-z0-9` and the id is colon-separated segments of `A-Za-z0-9._-` and `%XX`, the last
/// one non-empty. At most [`MAX_DID_LEN`] bytes.
///
/// ```
/// use coopvm_domain::identity::is_did;
/// assert!(is_did("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"));
/// assert!(is_did("did:web:example.com:user%20one"));
/// assert!(!is_did("did:Key:abc") && !is_did("did:key:") && !is_did("did:key"));
/// ```
pub fn is_did(did: &str) -> bool {
    if did.len() > MAX_DID_LEN {
        return false;
    }
    let Some(rest) = did.strip_prefix("did:") else {
        return false;
    };
    let Some((method, id)) = rest.split_once(':') else {
        return false;
    };
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return false;
    }
    let segments: Vec<&str> = id.split(':').collect();
    let Some(last) = segments.last() else {
        return false;
    };
    !last.is_empty() && segments.iter().all(|s| idchars(s))
}

fn idchars(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
                {
                    return false;
                }
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_') => i += 1,
            _ => return false,
        }
    }
    true
}

/// `Ok` if `did` is a DID (see [`is_did`]), else `invalid_did`.
pub fn check_did(did: &str) -> VmResult<()> {
    if is_did(did) {
        Ok(())
    } else {
        let shown: String = did.chars().take(80).collect();
        fail(
            ErrorKind::InvalidDid,
            format!("`{shown}` is not a DID (did:<method>:<id>)"),
        )
    }
}

/// The ed25519 key of a multibase multikey `z...` (base58btc of `0xed 0x01` + 32 bytes).
pub fn ed25519_multikey(text: &str) -> Option<VerifyingKey> {
    let encoded = text.strip_prefix('z')?;
    let bytes = bs58::decode(encoded).into_vec().ok()?;
    let key = bytes.strip_prefix(&ED25519_MULTICODEC[..])?;
    let key: &[u8; 32] = key.try_into().ok()?;
    VerifyingKey::from_bytes(key).ok()
}

/// The `did:key` DID of an ed25519 public key.
///
/// ```
/// let did = coopvm_domain::identity::did_key_ed25519(&[1; 32]);
/// assert!(did.starts_with("did:key:z6Mk"));
/// ```
pub fn did_key_ed25519(public: &[u8; 32]) -> String {
    let mut bytes = ED25519_MULTICODEC.to_vec();
    bytes.extend_from_slice(public);
    format!("did:key:z{}", bs58::encode(bytes).into_string())
}

/// Lowercase hexadecimal text of `bytes` (the signature form `verifydid` reads).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex64(text: &str) -> Option<[u8; 64]> {
    let t = text.as_bytes();
    if t.len() != 128 {
        return None;
    }
    let mut out = [0u8; 64];
    for (i, pair) in t.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// The verification key of `did` given its registered `document` (see the module docs).
fn key_of(did: &str, document: &str) -> Option<VerifyingKey> {
    if let Some(id) = did.strip_prefix("did:key:") {
        if let Some(k) = ed25519_multikey(id) {
            return Some(k);
        }
    }
    let doc: serde_json::Value = serde_json::from_str(document).ok()?;
    let direct = doc.get("publicKeyMultibase").and_then(|v| v.as_str());
    let in_methods = || {
        doc.get("verificationMethod")?
            .as_array()?
            .iter()
            .find_map(|m| m.get("publicKeyMultibase")?.as_str())
    };
    ed25519_multikey(direct.or_else(in_methods)?)
}

impl Domain {
    /// `didregistered [did] -> [0|1]`: `invalid_did` for text that is not a DID.
    pub fn did_registered(&self, did: &str) -> VmResult<bool> {
        check_did(did)?;
        Ok(self.dids.contains(&did.to_owned()))
    }

    /// `didcontroller [did] -> [controller]`: `invalid_did`, then `not_found` for a DID
    /// that is not registered.
    pub fn did_controller(&self, did: &str) -> VmResult<String> {
        check_did(did)?;
        match self.dids.get(&did.to_owned()) {
            Some(r) => Ok(r.controller.clone()),
            None => fail(ErrorKind::NotFound, format!("`{did}` is not registered")),
        }
    }

    /// `verifydid [did, payload, signature] -> [ok]`.
    pub fn verify_did(
        &mut self,
        cx: &mut HostCx,
        did: &str,
        payload: &str,
        signature: &str,
    ) -> VmResult<bool> {
        check_did(did)?;
        cx.charge((payload.len() as u64).div_ceil(64));
        let Some(record) = self.dids.get(&did.to_owned()) else {
            return Ok(false);
        };
        let Some(key) = key_of(did, &record.document) else {
            return Ok(false);
        };
        let Some(sig) = unhex64(signature) else {
            return Ok(false);
        };
        let sig = Signature::from_bytes(&sig);
        Ok(key.verify_strict(payload.as_bytes(), &sig).is_ok())
    }

    /// `updatediddocument [did, document] -> []`.
    pub fn update_did_document(
        &mut self,
        cx: &mut HostCx,
        did: &str,
        document: &str,
    ) -> VmResult<()> {
        check_did(did)?;
        let by = caller(cx)?.to_owned();
        if document.len() > MAX_DOCUMENT_LEN {
            return fail(
                ErrorKind::InvalidArgument,
                format!(
                    "a DID document may have at most {MAX_DOCUMENT_LEN} bytes, not {}",
                    document.len()
                ),
            );
        }
        let version = match self.dids.get(&did.to_owned()) {
            Some(r) if r.controller != by => {
                return fail(
                    ErrorKind::NotController,
                    format!(
                        "only `{}`, the controller of `{did}`, may change its document",
                        r.controller
                    ),
                )
            }
            Some(r) => r.version + 1,
            None if by != did => {
                return fail(
                    ErrorKind::NotController,
                    format!("`{did}` is not registered, and only `{did}` itself may register it"),
                )
            }
            None => 1,
        };
        cx.charge((document.len() as u64).div_ceil(32));
        self.dids.insert(
            did.to_owned(),
            DidRecord {
                controller: by.clone(),
                document: document.to_owned(),
                version,
            },
        );
        cx.emit(
            "DidDocumentUpdated",
            [
                ("did", EventValue::from(did)),
                ("controller", by.into()),
                ("version", (version as i64).into()),
            ],
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Harness, A::*};
    use super::*;
    use coopvm_core::Op;
    use ed25519_dalek::{Signer, SigningKey};

    fn keypair(seed: u8) -> (SigningKey, String) {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        let did = did_key_ed25519(sk.verifying_key().as_bytes());
        (sk, did)
    }

    #[test]
    fn did_syntax() {
        for ok in [
            "did:key:abc",
            "did:example:123456789abcdefghi",
            "did:web:example.com%3A8443:users:alice",
            "did:a1:x::y",
            "did:m:%41",
        ] {
            assert!(is_did(ok), "{ok}");
        }
        for bad in [
            "",
            "did",
            "did:",
            "did::x",
            "did:key",
            "did:key:",
            "did:key:a:",
            "did:KEY:x",
            "did:k-y:x",
            "did:key:a b",
            "did:key:%4",
            "did:key:%zz",
            "did:key:%",
            "DID:key:x",
            "did:key:é",
        ] {
            assert!(!is_did(bad), "{bad}");
        }
        assert!(!is_did(&format!("did:key:{}", "a".repeat(MAX_DID_LEN))));
    }

    #[test]
    fn did_key_round_trip() {
        // The W3C test vector for did:key ed25519.
        let did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
        assert!(ed25519_multikey(did.strip_prefix("did:key:").unwrap()).is_some());
        let (sk, did) = keypair(7);
        let k = ed25519_multikey(did.strip_prefix("did:key:").unwrap()).unwrap();
        assert_eq!(k, sk.verifying_key());
        assert!(ed25519_multikey("zzz").is_none());
        assert!(ed25519_multikey("6Mk").is_none());
        // A secp256k1 multikey (prefix 0xe7 0x01) is not ed25519.
        let mut other = vec![0xe7, 0x01];
        other.extend_from_slice(&[2; 33]);
        assert!(ed25519_multikey(&format!("z{}", bs58::encode(other).into_string())).is_none());
    }

    #[test]
    fn register_update_and_verify() {
        let (sk, did) = keypair(1);
        let mut h = Harness::new();
        h.caller(&did);
        h.op(Op::UpdateDidDocument, &[S(&did), S("{}")]).unwrap();
        assert_eq!(h.event_names(), ["DidDocumentUpdated"]);
        assert_eq!(h.host.did(&did).unwrap().controller, did);
        h.op(Op::UpdateDidDocument, &[S(&did), S("{\"v\":2}")])
            .unwrap();
        assert_eq!(h.host.did(&did).unwrap().version, 2);

        let sig = hex(&sk.sign(b"hello").to_bytes());
        assert_eq!(h.op(Op::VerifyDid, &[S(&did), S("hello"), S(&sig)]), Ok(1));
        assert_eq!(h.op(Op::VerifyDid, &[S(&did), S("hellO"), S(&sig)]), Ok(0));
        let upper = sig.to_uppercase();
        assert_eq!(
            h.op(Op::VerifyDid, &[S(&did), S("hello"), S(&upper)]),
            Ok(1)
        );
        // Malformed signatures do not verify.
        for bad in ["", "00", &sig[..126], &format!("{}zz", &sig[..126])] {
            assert_eq!(h.op(Op::VerifyDid, &[S(&did), S("hello"), S(bad)]), Ok(0));
        }
        // Another key's signature does not verify.
        let (other, _) = keypair(2);
        let forged = hex(&other.sign(b"hello").to_bytes());
        assert_eq!(
            h.op(Op::VerifyDid, &[S(&did), S("hello"), S(&forged)]),
            Ok(0)
        );
    }

    #[test]
    fn registration_reads() {
        let (_, did) = keypair(6);
        let mut h = Harness::new();
        assert_eq!(h.op(Op::DidRegistered, &[S(&did)]), Ok(0));
        assert_eq!(h.refuse(Op::DidController, &[S(&did)]), ErrorKind::NotFound);
        h.caller(&did)
            .op(Op::UpdateDidDocument, &[S(&did), S("{}")])
            .unwrap();
        assert_eq!(h.op(Op::DidRegistered, &[S(&did)]), Ok(1));
        h.op(Op::DidController, &[S(&did)]).unwrap();
        assert_eq!(h.text.as_deref(), Some(did.as_str()));
        assert!(h.events.is_empty());
        for op in [Op::DidRegistered, Op::DidController] {
            assert_eq!(h.refuse(op, &[S("not a did")]), ErrorKind::InvalidDid);
        }
    }

    #[test]
    fn unregistered_dids_do_not_verify() {
        let (sk, did) = keypair(3);
        let mut h = Harness::new();
        let sig = hex(&sk.sign(b"x").to_bytes());
        assert_eq!(h.op(Op::VerifyDid, &[S(&did), S("x"), S(&sig)]), Ok(0));
    }

    #[test]
    fn document_keys_serve_other_methods() {
        let (sk, did_key) = keypair(4);
        let multikey = did_key.strip_prefix("did:key:").unwrap();
        let did = "did:web:example.org";
        let doc = format!(
            "{{\"verificationMethod\":[{{\"id\":\"#k\",\"publicKeyMultibase\":\"{multikey}\"}}]}}"
        );
        let mut h = Harness::new();
        h.caller(did);
        h.op(Op::UpdateDidDocument, &[S(did), S(&doc)]).unwrap();
        let sig = hex(&sk.sign(b"p").to_bytes());
        assert_eq!(h.op(Op::VerifyDid, &[S(did), S("p"), S(&sig)]), Ok(1));
        // A document without a key: nothing verifies.
        h.op(Op::UpdateDidDocument, &[S(did), S("plain text")])
            .unwrap();
        assert_eq!(h.op(Op::VerifyDid, &[S(did), S("p"), S(&sig)]), Ok(0));
    }

    #[test]
    fn refusals() {
        let (_, did) = keypair(5);
        let mut h = Harness::new();
        assert_eq!(
            h.refuse(Op::VerifyDid, &[S("not-a-did"), S("p"), S("s")]),
            ErrorKind::InvalidDid
        );
        assert_eq!(
            h.refuse(Op::UpdateDidDocument, &[S("did:"), S("{}")]),
            ErrorKind::InvalidDid
        );
        // Alice cannot register someone else's DID.
        assert_eq!(
            h.refuse(Op::UpdateDidDocument, &[S(&did), S("{}")]),
            ErrorKind::NotController
        );
        h.caller(&did);
        h.op(Op::UpdateDidDocument, &[S(&did), S("{}")]).unwrap();
        // Nor change it once registered.
        assert_eq!(
            h.caller("did:key:alice")
                .refuse(Op::UpdateDidDocument, &[S(&did), S("{}")]),
            ErrorKind::NotController
        );
        let big = "x".repeat(MAX_DOCUMENT_LEN + 1);
        assert_eq!(
            h.caller(&did)
                .refuse(Op::UpdateDidDocument, &[S(&did), S(&big)]),
            ErrorKind::InvalidArgument
        );
        assert_eq!(h.host.did(&did).unwrap().version, 1);
    }
}

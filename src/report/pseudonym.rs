//! Pseudonymisation for data sharing: patient ids become keyed hashes
//! (HMAC-SHA-256), and anything in a record that could carry the original
//! id (the input path) is rewritten, so the id cannot leak.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub struct Pseudonymiser {
    key: Vec<u8>,
}

impl Pseudonymiser {
    /// The key file's bytes, with surrounding whitespace removed. An empty
    /// key would make the hash a plain, guessable digest, so it is refused.
    pub fn from_key(bytes: &[u8]) -> Option<Self> {
        let s = String::from_utf8_lossy(bytes);
        let key = s.trim().as_bytes().to_vec();
        (key.len() >= 16).then_some(Self { key })
    }

    /// `p_` and the first 16 hex digits (64 bits) of HMAC-SHA-256(key, id).
    pub fn pseudonym(&self, id: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(id.as_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("p_{hex}")
    }

    /// Replaces every occurrence of `id` in `text` by its pseudonym.
    pub fn scrub(&self, text: &str, id: &str) -> String {
        if id.is_empty() {
            return text.to_string();
        }
        text.replace(id, &self.pseudonym(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_keyed_stable_and_hide_the_id() {
        let a = Pseudonymiser::from_key(b"a-secret-key-of-some-length\n").unwrap();
        let b = Pseudonymiser::from_key(b"another-secret-key-entirely").unwrap();
        assert_eq!(a.pseudonym("P001"), a.pseudonym("P001"));
        assert_ne!(a.pseudonym("P001"), a.pseudonym("P002"));
        assert_ne!(a.pseudonym("P001"), b.pseudonym("P001"));
        assert!(!a.pseudonym("P001").contains("P001"));
        assert_eq!(
            a.scrub("cohort/P001/2026-01-01/P001_front.jpg", "P001")
                .matches("p_")
                .count(),
            2
        );
        assert!(Pseudonymiser::from_key(b"short").is_none());
    }

    #[test]
    fn matches_rfc4231_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

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
        // The bytes themselves: a binary key must not be folded through a
        // text decoding (two keys would become one). ASCII whitespace at the
        // ends goes, so that a key file ending in a newline still works.
        let key = bytes.trim_ascii().to_vec();
        (key.len() >= 16).then_some(Self { key })
    }

    /// A path as a pseudonymised record shows it: the patient's pseudonym
    /// and a keyed hash of the path (folder and file names carry names:
    /// `Smith_John/front.jpg`), keeping the extension. The record's sha256
    /// still identifies the file to whoever holds it.
    pub fn path(&self, path: &str, id: Option<&str>) -> String {
        let ext = std::path::Path::new(path)
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy().to_ascii_lowercase()))
            .unwrap_or_default();
        let file = self.pseudonym(path).replacen("p_", "photo_", 1);
        match id {
            Some(id) => format!("{}/{file}{ext}", self.pseudonym(id)),
            None => format!("{file}{ext}"),
        }
    }

    /// A command line with nothing a user typed but the subcommand and the
    /// option names: paths and values can carry names.
    pub fn command_line(args: &[String]) -> Vec<String> {
        args.iter()
            .enumerate()
            .map(|(i, a)| match a {
                _ if i < 2 && !a.contains(['/', '\\']) => a.clone(),
                _ if a.starts_with("--") => a.split('=').next().unwrap_or_default().to_string(),
                _ => "…".to_string(),
            })
            .collect()
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

    /// Replaces every occurrence of `id` in `text`, in any letter case, by
    /// its pseudonym.
    pub fn scrub(&self, text: &str, id: &str) -> String {
        if id.is_empty() {
            return text.to_string();
        }
        let (hay, needle) = (text.to_lowercase(), id.to_lowercase());
        if hay.len() != text.len() || needle.len() != id.len() {
            // Lower-casing changed byte lengths (non-ASCII): exact matches only.
            return text.replace(id, &self.pseudonym(id));
        }
        let mut out = String::new();
        let mut last = 0;
        for (at, _) in hay.match_indices(&needle) {
            out.push_str(&text[last..at]);
            out.push_str(&self.pseudonym(id));
            last = at + id.len();
        }
        out.push_str(&text[last..]);
        out
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
        assert!(
            !a.scrub("in/p001/x.jpg", "P001")
                .to_lowercase()
                .contains("p001"),
            "scrubbing ignores letter case"
        );
    }

    #[test]
    fn binary_keys_are_taken_as_bytes() {
        let k1 = [0xffu8; 32];
        let mut k2 = [0xffu8; 32];
        k2[5] = 0xfe;
        let (a, b) = (
            Pseudonymiser::from_key(&k1).unwrap(),
            Pseudonymiser::from_key(&k2).unwrap(),
        );
        assert_ne!(a.pseudonym("P1"), b.pseudonym("P1"));
        assert!(
            Pseudonymiser::from_key(&[0xff; 6]).is_none(),
            "6 bytes is too short"
        );
    }

    #[test]
    fn paths_and_command_lines_keep_no_names() {
        let p = Pseudonymiser::from_key(b"a-secret-key-of-some-length").unwrap();
        let shown = p.path("cohort/Smith_John/2026-01-01/John front.JPG", Some("P007"));
        assert!(!shown.contains("Smith") && !shown.contains("John") && !shown.contains("P007"));
        assert!(shown.starts_with(&p.pseudonym("P007")) && shown.ends_with(".jpg"));
        let argv: Vec<String> = [
            "dermascore",
            "analyze",
            "d/Smith_John",
            "--pseudonymise",
            "k.key",
            "--out=Smith_out",
        ]
        .map(String::from)
        .to_vec();
        let line = Pseudonymiser::command_line(&argv).join(" ");
        assert!(!line.contains("Smith"), "{line}");
        assert!(
            line.contains("--pseudonymise") && line.contains("--out"),
            "{line}"
        );
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

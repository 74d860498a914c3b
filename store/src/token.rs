//! Bearer tokens: 32 random bytes as hex behind a typed prefix. Only the SHA-256 hex of the
//! whole string is stored, so a database leak reveals no usable token.

use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// User login and scoped sessions.
pub const SESSION: &str = "av_sess_";
/// Instance-level agent tokens.
pub const AGENT: &str = "av_agt_";
/// Agent (and rotation) invites.
pub const INVITE: &str = "av_inv_";
/// Proposal approval links.
pub const APPROVAL: &str = "av_appr_";
/// User invites.
pub const USER_INVITE: &str = "av_uinv_";

/// A freshly minted token and the hash to store for it.
pub struct Minted {
    /// The raw token, returned to its holder exactly once.
    pub raw: String,
    /// Lowercase SHA-256 hex of `raw`.
    pub hash: String,
}

/// Mints a token with the given prefix.
pub fn mint(prefix: &str) -> Minted {
    let bytes: [u8; 32] = rand::rng().random();
    let raw = format!("{prefix}{}", hex::encode(bytes));
    let hash = hash(&raw);
    Minted { raw, hash }
}

/// Lowercase SHA-256 hex of a token or code.
pub fn hash(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A uniformly random 6-digit code (verification, password reset).
pub fn six_digit_code() -> String {
    let n: u32 = rand::rng().random_range(0..1_000_000);
    format!("{n:06}")
}

/// The last `n` characters of a token (shown in lists so a token can be revoked by suffix).
pub fn suffix(raw: &str, n: usize) -> String {
    raw[raw.len().saturating_sub(n)..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_have_prefix_and_hash() {
        let t = mint(AGENT);
        assert!(t.raw.starts_with(AGENT));
        assert_eq!(t.raw.len(), AGENT.len() + 64);
        assert_eq!(t.hash, hash(&t.raw));
        assert_eq!(t.hash.len(), 64);
        assert_ne!(mint(AGENT).raw, t.raw);
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let c = six_digit_code();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}

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

/// Name of the cookie that carries a login session (the browser's way to send a token).
pub const SESSION_COOKIE: &str = "av_session";

/// The raw token of a request (reference §4.2): what follows the exact prefix `Bearer ` in
/// `Authorization`, else the value of the `av_session` cookie in any `Cookie` field.
pub fn from_request<'a>(
    authorization: Option<&'a [u8]>,
    cookies: impl IntoIterator<Item = &'a [u8]>,
) -> Option<&'a [u8]> {
    if let Some(token) = authorization.and_then(|v| v.strip_prefix(b"Bearer ")) {
        return Some(token);
    }
    cookies.into_iter().find_map(|v| cookie(v, SESSION_COOKIE))
}

/// The value of cookie `name` in one `Cookie` field.
pub fn cookie<'a>(field: &'a [u8], name: &str) -> Option<&'a [u8]> {
    field.split(|&b| b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let (k, v) = pair.split_at(pair.iter().position(|&b| b == b'=')?);
        (k.trim_ascii() == name.as_bytes()).then(|| v[1..].trim_ascii())
    })
}

/// A `Cookie` field without the `av_session` pair (`None`: nothing else was in it), so the
/// agent's own token never travels beyond the proxy.
pub fn without_session_cookie(field: &[u8]) -> Option<Vec<u8>> {
    let kept: Vec<&[u8]> = field
        .split(|&b| b == b';')
        .map(<[u8]>::trim_ascii)
        .filter(|pair| !pair.is_empty() && cookie(pair, SESSION_COOKIE).is_none())
        .collect();
    (!kept.is_empty()).then(|| kept.join(&b"; "[..]))
}

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
    fn request_token_prefers_bearer_then_cookie() {
        let c: &[u8] = b"a=1; av_session=av_sess_c ; b=2";
        assert_eq!(
            from_request(Some(b"Bearer av_sess_b"), [c]),
            Some(&b"av_sess_b"[..])
        );
        assert_eq!(
            from_request(Some(b"bearer x"), [c]),
            Some(&b"av_sess_c"[..])
        );
        assert_eq!(
            from_request(None, [&b"x=1"[..], c]),
            Some(&b"av_sess_c"[..])
        );
        assert_eq!(from_request(None, [&b"av_sessionx=1; =; ;;"[..]]), None);
        assert_eq!(from_request(Some(b"Bearer "), []), Some(&b""[..]));
        assert_eq!(cookie(b"av_session=", SESSION_COOKIE), Some(&b""[..]));
        assert_eq!(cookie(b"noequals; k=v=w", "k"), Some(&b"v=w"[..]));
    }

    #[test]
    fn session_cookie_is_removed_from_forwarded_cookies() {
        assert_eq!(
            without_session_cookie(b"a=1; av_session=t;b=2").as_deref(),
            Some(&b"a=1; b=2"[..])
        );
        assert_eq!(without_session_cookie(b" av_session=t ; "), None);
        assert_eq!(without_session_cookie(b"a=1").as_deref(), Some(&b"a=1"[..]));
    }

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

//! Answers the proxy writes itself (errors), in the reference's JSON shapes.
//!
//! Every rejection is a [`Reject`]: a status plus a ready JSON body, so a phase can decide
//! "stop here with this answer" and one place writes it. Bodies never contain secrets or
//! internal addresses: they are built only from the request's own target and vault name.

use std::sync::LazyLock;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use serde_json::json;

/// Headers the reference puts on every response (§4.0).
const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    ),
];

/// [`SECURITY_HEADERS`] built once for the response path: the parsed name (lookups), the
/// name as written (Pingora keeps each field's spelling) and the value, all without copying.
pub static SECURITY_FIELDS: LazyLock<Vec<(HeaderName, Bytes, HeaderValue)>> = LazyLock::new(|| {
    SECURITY_HEADERS
        .iter()
        .map(|(name, value)| {
            (
                HeaderName::from_static(name),
                Bytes::from_static(name.as_bytes()),
                HeaderValue::from_static(value),
            )
        })
        .collect()
});

/// The auth types named in a `proposal_hint`.
const SUPPORTED_AUTH_TYPES: [&str; 4] = ["bearer", "basic", "api-key", "custom"];

/// A request the proxy answers itself instead of forwarding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Bytes,
    /// See [`Reject::maybe_stale`].
    pub stale: bool,
}

impl Reject {
    fn json(status: u16, value: serde_json::Value) -> Self {
        Reject {
            status,
            body: Bytes::from(value.to_string()),
            stale: false,
        }
    }

    /// `{"error": msg}`.
    pub fn plain(status: u16, msg: &str) -> Self {
        Self::json(status, json!({ "error": msg }))
    }

    /// `{"error": code, "message": msg}`.
    pub fn coded(status: u16, code: &str, msg: &str) -> Self {
        Self::json(status, json!({ "error": code, "message": msg }))
    }

    /// 503 until the first owner account exists.
    pub fn not_initialized() -> Self {
        Self::coded(
            503,
            "not_initialized",
            "No owner account exists. Run 'agent-vault auth register' to create the first account.",
        )
    }

    /// 404 for anything outside `/proxy/`.
    pub fn not_found() -> Self {
        Self::coded(
            404,
            "not_found",
            "This port serves only /proxy/<host>/<path>; the admin API is on its own port",
        )
    }

    /// 403 when no service of the vault matches the target host.
    pub fn no_service(host: &str, vault: &str) -> Self {
        Self::json(
            403,
            json!({
                "error": "forbidden",
                "message": format!("No broker service matching host {host:?} in vault {vault:?}"),
                "proposal_hint": {
                    "host": host,
                    "endpoint": "POST /v1/proposals",
                    "supported_auth_types": SUPPORTED_AUTH_TYPES,
                },
            }),
        )
    }

    /// 502 when a credential a service needs is missing or cannot be decrypted.
    pub fn credential_not_found() -> Self {
        Self::coded(
            502,
            "credential_not_found",
            "A required credential could not be resolved; check vault configuration",
        )
    }

    /// 502 when the upstream cannot be reached (DNS, guard, connect, TLS).
    pub fn upstream_error(host: &str) -> Self {
        Self::coded(502, "upstream_error", &format!("Failed to reach {host}"))
    }

    /// 504 when the upstream accepted the request but did not answer in time.
    pub fn upstream_timeout(host: &str) -> Self {
        Self::coded(
            504,
            "upstream_timeout",
            &format!("Timed out waiting for {host}"),
        )
    }

    /// 413 when the request body exceeds the configured cap.
    pub fn request_too_large(limit: u64) -> Self {
        Self::coded(
            413,
            "request_too_large",
            &format!("Request body exceeds the proxy limit of {limit} bytes"),
        )
    }

    /// 502 when the upstream response exceeds the configured cap (known before streaming).
    pub fn response_too_large(limit: u64) -> Self {
        Self::coded(
            502,
            "response_too_large",
            &format!("Upstream response exceeds the proxy limit of {limit} bytes"),
        )
    }

    /// Marks an answer that a more recent view could change: something not found that a
    /// write committed a moment ago may have created (a token just minted, a new grant).
    pub fn maybe_stale(mut self) -> Self {
        self.stale = true;
        self
    }

    /// Writes this answer (keeping the downstream connection reusable).
    pub async fn send(&self, session: &mut Session) -> pingora::Result<()> {
        let mut resp = ResponseHeader::build(self.status, Some(4 + SECURITY_HEADERS.len()))?;
        resp.insert_header("content-type", "application/json")?;
        resp.insert_header("content-length", self.body.len().to_string())?;
        for (_, name, value) in SECURITY_FIELDS.iter() {
            resp.insert_header(name.clone(), value.clone())?;
        }
        session.write_response_header(Box::new(resp), false).await?;
        session
            .write_response_body(Some(self.body.clone()), true)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(r: &Reject) -> serde_json::Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn shapes_match_the_reference() {
        assert_eq!(
            parse(&Reject::plain(401, "Authorization required")),
            json!({"error": "Authorization required"})
        );
        let hint = parse(&Reject::no_service("evil.com", "default"));
        assert_eq!(
            hint,
            json!({"error":"forbidden",
                "message":"No broker service matching host \"evil.com\" in vault \"default\"",
                "proposal_hint":{"host":"evil.com","endpoint":"POST /v1/proposals",
                    "supported_auth_types":["bearer","basic","api-key","custom"]}})
        );
        assert_eq!(
            parse(&Reject::upstream_error("a.example:8443"))["message"],
            "Failed to reach a.example:8443"
        );
    }
}

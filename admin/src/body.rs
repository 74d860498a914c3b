//! Request bodies. Each route answers malformed or oversized JSON with its own documented
//! 400 message, so the body is read leniently and parsed by the handler.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// Largest JSON body accepted by the admin API (1 MiB).
pub const MAX_JSON_BODY: usize = 1 << 20;

/// The raw request body, or `None` when it could not be read (too large, broken stream).
pub struct RawBody(pub Option<Bytes>);

/// The body was unreadable, oversized or not the expected JSON; each route answers with its
/// own documented message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadBody;

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(RawBody(Bytes::from_request(req, state).await.ok()))
    }
}

impl RawBody {
    /// Parses the body as JSON; [`BadBody`] for unreadable, oversized or malformed input.
    /// Unknown fields are ignored.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, BadBody> {
        match &self.0 {
            Some(b) => serde_json::from_slice(b).map_err(|_| BadBody),
            None => Err(BadBody),
        }
    }

    /// Like [`RawBody::json`] but an empty body yields `T::default()`.
    pub fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, BadBody> {
        match &self.0 {
            Some(b) if b.iter().all(|c| c.is_ascii_whitespace()) => Ok(T::default()),
            _ => self.json(),
        }
    }

    /// Whether the request had no body at all.
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_some_and(|b| b.is_empty())
    }
}

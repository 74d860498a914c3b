//! Request bodies. Each route answers malformed or oversized JSON with its own documented
//! 400 message, so the body is read leniently and parsed by the handler.
//!
//! Every body is read in full before any handler runs: hyper closes a keep-alive connection
//! when a response goes out while part of the request body is still in flight, and a pooling
//! client then sends its next request into a closed socket. Early answers (401, 404, routes
//! that take no body) would otherwise do exactly that.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequest, Request};
use axum::middleware::Next;
use axum::response::Response;
use http_body::Frame;
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

/// Reads the whole request body (up to [`MAX_JSON_BODY`]) before the request is routed. A body
/// that is too large or breaks off reaches the handler as an unreadable body, so each route
/// still gives its own message.
pub async fn read_first(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_JSON_BODY).await {
        Ok(bytes) => Body::from(bytes),
        Err(_) => Body::new(Unreadable),
    };
    next.run(Request::from_parts(parts, body)).await
}

/// A body whose only frame is an error: what an oversized or broken upload turns into.
struct Unreadable;

impl HttpBody for Unreadable {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::other("request body unreadable"))))
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

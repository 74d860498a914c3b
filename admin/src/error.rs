//! API errors in the reference's JSON shapes: plain `{"error": msg}` for most handlers,
//! coded `{"error": code, "message": msg}` where clients branch on a machine code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// An error answer of the admin API.
#[derive(Debug)]
pub enum ApiError {
    /// `{"error": msg}`.
    Plain(StatusCode, String),
    /// `{"error": code, "message": msg}`.
    Coded(StatusCode, &'static str, String),
    /// Any other JSON body (e.g. soft errors, hints).
    Body(StatusCode, Value),
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 400 with a plain message.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::Plain(StatusCode::BAD_REQUEST, msg.into())
    }
    /// 401 with a plain message.
    pub fn unauthorized(msg: impl Into<String>) -> Self {
        Self::Plain(StatusCode::UNAUTHORIZED, msg.into())
    }
    /// 403 with a plain message.
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::Plain(StatusCode::FORBIDDEN, msg.into())
    }
    /// 404 with a plain message.
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::Plain(StatusCode::NOT_FOUND, msg.into())
    }
    /// 409 with a plain message.
    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::Plain(StatusCode::CONFLICT, msg.into())
    }
    /// 410 with a plain message.
    pub fn gone(msg: impl Into<String>) -> Self {
        Self::Plain(StatusCode::GONE, msg.into())
    }
    /// 429 with a plain message.
    pub fn too_many(msg: impl Into<String>) -> Self {
        Self::Plain(StatusCode::TOO_MANY_REQUESTS, msg.into())
    }
    /// 500 `{"error":"Internal error"}`; the cause goes to the log, never to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::Plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal error".into())
    }
    /// A coded error.
    pub fn coded(status: StatusCode, code: &'static str, msg: impl Into<String>) -> Self {
        Self::Coded(status, code, msg.into())
    }
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Plain(s, _) | Self::Coded(s, _, _) | Self::Body(s, _) => *s,
        }
    }
}

impl From<av_store::Error> for ApiError {
    fn from(e: av_store::Error) -> Self {
        ApiError::internal(e)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Plain(s, msg) => (s, Json(json!({ "error": msg }))).into_response(),
            Self::Coded(s, code, msg) => {
                (s, Json(json!({ "error": code, "message": msg }))).into_response()
            }
            Self::Body(s, v) => (s, Json(v)).into_response(),
        }
    }
}

//! Cross-cutting answers: security headers on every response, the initialization gate, the
//! JSON 404/405 fallbacks, and the `421 wrong_port` hint for proxy requests sent here.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers to every response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    res
}

/// Answers 503 `not_initialized` until the first owner exists.
pub async fn init_gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.is_initialized() {
        next.run(req).await
    } else {
        ApiError::coded(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_initialized",
            "No owner account exists. Run 'agent-vault auth register' to create the first account.",
        )
        .into_response()
    }
}

/// JSON 404 for unknown routes.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::coded(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("No route for {method} {}", uri.path()),
    )
}

/// JSON 405 for a known path with the wrong method (axum adds the `Allow` header).
pub async fn method_not_allowed() -> ApiError {
    ApiError::coded(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method Not Allowed",
    )
}

/// `/proxy/...` belongs to the proxy port: say where it is instead of redirecting (a redirect
/// would make clients drop the token).
pub async fn wrong_port(State(state): State<AppState>) -> ApiError {
    ApiError::coded(
        StatusCode::MISDIRECTED_REQUEST,
        "wrong_port",
        format!("The proxy listens at {}", state.config.proxy_url()),
    )
}

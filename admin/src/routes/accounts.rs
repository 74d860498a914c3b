//! Not built yet.

use axum::Router;

use crate::state::AppState;

/// Gated routes (login, me, change password, delete account, logout).
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// Routes open before the first owner exists (register, verify, resend, forgot, reset).
pub fn open_routes() -> Router<AppState> {
    Router::new()
}

//! Not built yet.

use axum::Router;

use crate::state::AppState;

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
}

//! The admin service's routes, assembled in one place.

use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::any;
use axum::Router;

use crate::body::{self, MAX_JSON_BODY};
use crate::middleware;
use crate::routes;
use crate::state::AppState;

/// Builds the admin service. Routes that need an owner to exist sit behind the gate.
pub fn router(state: AppState) -> Router {
    let gated = Router::new()
        .merge(routes::accounts::routes())
        .merge(routes::vaults::routes())
        .merge(routes::vault_users::routes())
        .merge(routes::users::routes())
        .merge(routes::user_invites::routes())
        .merge(routes::settings::routes())
        .merge(routes::credentials::routes())
        .merge(routes::services::routes())
        .merge(routes::sessions::routes())
        .merge(routes::agents::routes())
        .merge(routes::agent_invites::routes())
        .merge(routes::vault_agents::routes())
        .merge(routes::discover::routes())
        .merge(routes::skills::routes())
        .merge(routes::proposals::routes())
        .merge(routes::approve_page::routes())
        .merge(routes::oauth::routes());
    // axum panics on a route layer over no routes.
    let gated = if gated.has_routes() {
        gated.route_layer(from_fn_with_state(state.clone(), middleware::init_gate))
    } else {
        gated
    };
    Router::new()
        .merge(routes::health::routes())
        .merge(routes::home::routes())
        .merge(routes::accounts::open_routes())
        .merge(routes::oauth::open_routes())
        .merge(gated)
        .route("/proxy", any(middleware::wrong_port))
        .route("/proxy/{*rest}", any(middleware::wrong_port))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(from_fn(middleware::security_headers))
        .layer(from_fn(body::read_first))
        .with_state(state)
}

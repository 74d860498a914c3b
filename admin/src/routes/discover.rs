//! `GET /discover` (reference §4.14): what an agent may use in its vault — the service hosts
//! (with descriptions) and the names, never the values, of the stored credentials.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::authz;
use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::routes::credentials::credential_keys;
use crate::routes::services::load_services;
use crate::state::AppState;

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new().route("/discover", get(discover))
}

async fn discover(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let (vault, services, keys) = state.store.read(|c| {
        let (vault, _) = authz::agent_vault(c, &caller, &headers)?;
        let services = load_services(c, &vault.id).map_err(|_| {
            ApiError::coded(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Failed to parse broker services",
            )
        })?;
        let keys = credential_keys(c, &vault.id)?;
        Ok::<_, ApiError>((vault, services, keys))
    })?;
    let services: Vec<Value> = services
        .iter()
        .map(|s| json!({ "host": s.host, "description": s.description }))
        .collect();
    Ok(Json(json!({
        "vault": vault.name,
        "proxy_url": state.config.proxy_url(),
        "services": services,
        "available_credentials": keys,
    })))
}

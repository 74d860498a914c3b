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
    let (vault, services_json, keys) = state.store.read(|c| {
        let (vault, _) = authz::agent_vault(c, &caller, &headers)?;
        let services_json: String = c
            .query_row(
                "SELECT services_json FROM broker_configs WHERE vault_id = ?1",
                [&vault.id],
                |r| r.get(0),
            )
            .unwrap_or_else(|_| "[]".to_string());
        let mut stmt = c.prepare("SELECT key FROM credentials WHERE vault_id = ?1 ORDER BY key")?;
        let keys: Vec<String> = stmt
            .query_map([&vault.id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok::<_, ApiError>((vault, services_json, keys))
    })?;
    let parsed: Vec<Value> = serde_json::from_str(&services_json).map_err(|_| {
        ApiError::coded(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Failed to parse broker services",
        )
    })?;
    let services: Vec<Value> = parsed
        .iter()
        .map(|s| {
            json!({
                "host": s.get("host").cloned().unwrap_or(Value::Null),
                "description": s.get("description").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(Json(json!({
        "vault": vault.name,
        "proxy_url": state.config.proxy_url(),
        "services": services,
        "available_credentials": keys,
    })))
}

//! Liveness and instance status; open before initialization.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::state::AppState;

/// `GET /health`, `GET /v1/status`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/v1/status", get(status))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn status(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let initialized = state.is_initialized();
    let (domains, invite_only): (Option<String>, Option<String>) = state.store.read(|c| {
        let get = |k: &str| {
            c.query_row(
                "SELECT value FROM instance_settings WHERE key = ?1",
                [k],
                |r| r.get::<_, String>(0),
            )
        };
        use rusqlite::OptionalExtension;
        Ok::<_, av_store::Error>((
            get("allowed_email_domains").optional()?,
            get("invite_only").optional()?,
        ))
    })?;
    let mut body = json!({ "initialized": initialized, "needs_first_user": !initialized });
    let domains: Vec<String> = domains
        .and_then(|d| serde_json::from_str(&d).ok())
        .unwrap_or_default();
    if !domains.is_empty() {
        body["allowed_email_domains"] = json!(domains);
    }
    if invite_only.as_deref() == Some("true") {
        body["invite_only"] = json!(true);
    }
    Ok(Json(body))
}

//! Scoped sessions (`POST /v1/sessions`, reference §4.9): what `vault run` and `vault token`
//! hand to a wrapped process. A scoped session acts in one vault with a role capped by the
//! minting caller's own role there, and has no actor identity.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use av_store::roles::VaultRole;
use av_store::time;

use crate::authz;
use crate::body::RawBody;
use crate::caller::{self, Caller, CallerKind};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Shortest scoped-session lifetime, in seconds (5 minutes).
const MIN_TTL: i64 = 300;
/// Longest scoped-session lifetime, in seconds (7 days).
const MAX_TTL: i64 = 604_800;
/// Lifetime when none is asked for (24 hours).
const DEFAULT_TTL: i64 = 86_400;

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/sessions", post(create))
}

#[derive(Deserialize)]
struct CreateBody {
    #[serde(default)]
    vault: String,
    #[serde(default)]
    vault_role: String,
    ttl_seconds: Option<i64>,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: CreateBody = body
        .json()
        .map_err(|_| ApiError::bad_request("Vault is required"))?;
    if req.vault.is_empty() {
        return Err(ApiError::bad_request("Vault is required"));
    }
    let requested = if req.vault_role.is_empty() {
        VaultRole::Proxy
    } else {
        req.vault_role
            .parse::<VaultRole>()
            .map_err(|_| ApiError::bad_request("vault_role must be one of: proxy, member, admin"))?
    };
    if let Some(ttl) = req.ttl_seconds {
        if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
            return Err(ApiError::bad_request(
                "ttl_seconds must be between 300 and 604800",
            ));
        }
    }
    let ttl = req.ttl_seconds.unwrap_or(DEFAULT_TTL);
    let (token, expires_at) = state.store.write(|tx| {
        let vault = authz::vault_or_404(tx, &req.vault)?;
        let own = authz::vault_access(tx, &caller, &vault)?;
        if matches!(caller.kind, CallerKind::Scoped { .. }) && own < VaultRole::Member {
            return Err(ApiError::forbidden("Member role required"));
        }
        if requested > own {
            return Err(ApiError::forbidden(format!(
                "Your vault role ({own}) cannot mint sessions with role {requested}"
            )));
        }
        Ok::<_, ApiError>(caller::create_session(
            tx,
            None,
            None,
            Some((&vault.id, requested)),
            Some(ttl),
        )?)
    })?;
    Ok(Json(json!({
        "token": token,
        "expires_at": expires_at.as_deref().map(time::rfc3339),
        "av_addr": state.config.base_url,
        "proxy_url": state.config.proxy_url(),
    })))
}

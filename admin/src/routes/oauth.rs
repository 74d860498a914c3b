//! Sign-in with an external OAuth provider (reference §4.23).
//!
//! This server offers no OAuth provider: Google sign-in is not built, so its
//! `AGENT_VAULT_OAUTH_GOOGLE_*` settings are not read. Every route answers exactly as an
//! instance where no provider is configured: an empty provider list, `Unknown OAuth provider`,
//! and a callback that sends the browser back with `error=unknown_provider`.

use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::users;

/// `GET /v1/auth/oauth/providers`, open before initialization.
pub fn open_routes() -> Router<AppState> {
    Router::new().route("/v1/auth/oauth/providers", get(providers))
}

/// The per-provider routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/oauth/{provider}/login", get(unknown_provider))
        .route("/v1/auth/oauth/{provider}/callback", get(callback))
        .route("/v1/auth/oauth/{provider}/connect", post(unknown_provider))
        .route("/v1/auth/oauth/{provider}", delete(disconnect))
}

async fn providers() -> Json<Value> {
    Json(json!({ "providers": [] }))
}

async fn unknown_provider(Path(_provider): Path<String>) -> ApiError {
    ApiError::not_found("Unknown OAuth provider")
}

/// Callback failures go back to the page that shows them, as a redirect.
async fn callback(Path(_provider): Path<String>) -> Response {
    (
        StatusCode::FOUND,
        [(LOCATION, "/oauth/callback?error=unknown_provider")],
    )
        .into_response()
}

/// No identity can be linked here, so there is nothing to disconnect.
async fn disconnect(
    State(state): State<AppState>,
    caller: Caller,
    Path(_provider): Path<String>,
) -> ApiResult<Json<Value>> {
    let (_, email, _) = caller.user()?;
    let user = state
        .store
        .read(|c| users::find_user(c, &email).map_err(ApiError::from))?;
    if user.is_some_and(|u| u.password.is_none()) {
        return Err(ApiError::conflict(
            "Cannot disconnect: no password set. Set a password first.",
        ));
    }
    Err(ApiError::not_found("Provider not connected"))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::json;

    use crate::testkit::{call, state, Kit};

    #[tokio::test]
    async fn every_route_answers_as_without_a_provider() {
        // The provider list is open even before the first owner exists.
        let (st, _d) = state();
        let r = call(&st, "GET", "/v1/auth/oauth/providers", None, None).await;
        assert_eq!(
            (r.status, r.json.clone()),
            (StatusCode::OK, json!({"providers": []}))
        );

        let k = Kit::new();
        let owner = Some(k.owner.as_str());
        for (method, path, token) in [
            ("GET", "/v1/auth/oauth/google/login?redirect=/vaults", None),
            ("GET", "/v1/auth/oauth/google/login?mode=connect", owner),
            ("POST", "/v1/auth/oauth/google/connect", owner),
            ("POST", "/v1/auth/oauth/github/connect", None),
        ] {
            let r = call(&k.state, method, path, token, None).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(r.json, json!({"error": "Unknown OAuth provider"}), "{path}");
        }
        let r = call(
            &k.state,
            "GET",
            "/v1/auth/oauth/google/callback?state=x&code=y",
            None,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(
            r.headers["location"],
            "/oauth/callback?error=unknown_provider"
        );
        let r = call(&k.state, "DELETE", "/v1/auth/oauth/google", owner, None).await;
        assert_eq!(
            (r.status, r.json),
            (
                StatusCode::NOT_FOUND,
                json!({"error": "Provider not connected"})
            )
        );
        let r = call(&k.state, "DELETE", "/v1/auth/oauth/google", None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
}

//! Instance settings (reference §4.22): invite-only mode and allowed signup domains, read and
//! changed by owners, enforced on registration and user-invite creation and acceptance; and
//! the owner's test email.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::RawBody;
use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::users;

/// `GET/PUT /v1/admin/settings`, `POST /v1/admin/email/test`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/settings", get(read).put(update))
        .route("/v1/admin/email/test", post(email_test))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TestEmail {
    to: String,
}

/// `POST /v1/admin/email/test`: owners send a test email to `to` or to themselves.
async fn email_test(
    State(state): State<AppState>,
    caller: Caller,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let actor = caller.owner()?;
    let Some(smtp) = state.config.smtp.as_ref() else {
        return Err(ApiError::bad_request("SMTP is not configured"));
    };
    let req: TestEmail = if body.is_empty() {
        TestEmail::default()
    } else {
        body.json()
            .map_err(|_| ApiError::bad_request("Invalid request body"))?
    };
    let to = match req.to.trim() {
        "" if actor.actor_type == "user" => actor.label,
        "" => {
            return Err(ApiError::bad_request(
                "Recipient email required (provide {\"to\": \"email@example.com\"} in the request body)",
            ))
        }
        to => to.to_string(),
    };
    let html = "<p>This is a test email from Agent Vault: email delivery works.</p>";
    smtp.send_html(std::slice::from_ref(&to), "Agent Vault test email", html)
        .await
        .map_err(|e| {
            ApiError::Plain(
                StatusCode::BAD_GATEWAY,
                format!("Failed to send test email: {e}"),
            )
        })?;
    Ok(Json(json!({ "message": "Test email sent", "to": to })))
}

fn current(state: &AppState) -> ApiResult<Json<Value>> {
    let (domains, invite_only) = state
        .store
        .read(|c| users::settings(c).map_err(ApiError::from))?;
    Ok(Json(json!({
        "allowed_email_domains": domains.unwrap_or_default(),
        "invite_only": invite_only,
        "smtp_configured": state.config.smtp.is_some(),
    })))
}

async fn read(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.owner()?;
    current(&state)
}

#[derive(Deserialize)]
struct Update {
    allowed_email_domains: Option<Vec<String>>,
    invite_only: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    caller.owner()?;
    let req: Update = body
        .json()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    let domains = match &req.allowed_email_domains {
        None => None,
        Some(list) => {
            let mut out: Vec<String> = Vec::new();
            for raw in list {
                let d = raw.trim().to_ascii_lowercase();
                if d.is_empty() {
                    continue;
                }
                if !d.contains('.') || d.contains([' ', '\t', '@']) {
                    return Err(ApiError::bad_request(format!("Invalid domain: {raw:?}")));
                }
                if !out.contains(&d) {
                    out.push(d);
                }
            }
            Some(out)
        }
    };
    // Validated before anything is saved, so a bad domain changes nothing.
    state.store.write(|tx| {
        if let Some(i) = req.invite_only {
            users::save_setting(tx, "invite_only", if i { "true" } else { "false" })?;
        }
        if let Some(d) = &domains {
            let text = serde_json::to_string(d).map_err(ApiError::internal)?;
            users::save_setting(tx, "allowed_email_domains", &text)?;
        }
        Ok::<_, ApiError>(())
    })?;
    current(&state)
}

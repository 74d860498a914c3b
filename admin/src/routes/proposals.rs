//! Proposals (reference §4.16 with DESIGN §6 fixes 4, 5, 6, 8, 10): an agent asks for a
//! service or credentials, a vault member or admin approves or rejects.
//!
//! Agent side (`/v1/proposals*`): the vault comes from the scoped session or, for agent
//! tokens, `X-Vault`. Agent-supplied values are encrypted at once into
//! `proposal_credentials`; the stored slot only says `has_value`. The creator is recorded by
//! actor id, never by token. Review side (`/v1/admin/proposals*`): the vault comes from the
//! body or query; approval applies everything in one transaction. `approve-details` serves
//! the approval link's holder. Stale proposals turn `expired` on every read.

pub(crate) mod db;

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use av_store::proposal::{self, ProposalRequest, ACTION_SET};
use av_store::roles::VaultRole;
use av_store::time;

use crate::authz::{self, Vault};
use crate::body::RawBody;
use crate::caller::{self, Caller, CallerKind};
use crate::error::{ApiError, ApiResult};
use crate::html::esc;
use crate::routes::credentials::credential_keys;
use crate::state::AppState;

use db::Proposal;

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/proposals", post(create).get(agent_list))
        .route("/v1/proposals/approve-details", get(approve_details))
        .route("/v1/proposals/{id}", get(agent_get))
        .route("/v1/admin/proposals", get(admin_list))
        .route("/v1/admin/proposals/{id}", get(admin_get))
        .route("/v1/admin/proposals/{id}/approve", post(approve))
        .route("/v1/admin/proposals/{id}/reject", post(reject))
}

type Params = Query<HashMap<String, String>>;

fn parse_id(raw: &str) -> ApiResult<i64> {
    raw.parse()
        .map_err(|_| ApiError::bad_request("Invalid proposal id"))
}

fn param<'a>(q: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    q.get(k).map(String::as_str).filter(|s| !s.is_empty())
}

/// The vault named in a body or query (`default` when absent), or 404.
fn named_vault(state: &AppState, name: Option<&str>) -> ApiResult<Vault> {
    let conn = state.store.conn()?;
    authz::vault_or_404(&conn, name.unwrap_or(av_store::DEFAULT_VAULT_NAME))
}

fn parse_array(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!([]))
}

/// The approval link for a proposal.
pub(crate) fn approval_url(state: &AppState, id: i64, token: &str) -> String {
    format!("{}/approve/{id}?token={token}", state.config.base_url)
}

// ---------------------------------------------------------------------------------------
// Agent side
// ---------------------------------------------------------------------------------------

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (vault, _) = {
        let conn = state.store.conn()?;
        authz::agent_vault(&conn, &caller, &headers)?
    };
    let mut req: ProposalRequest = body
        .json()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    proposal::validate(&req, state.config.dev_mode).map_err(ApiError::bad_request)?;
    let existing = state
        .store
        .read(|c| credential_keys(c, &vault.id).map_err(ApiError::from))?;
    proposal::validate_credential_refs(&req, &existing).map_err(ApiError::bad_request)?;

    // Agent-supplied values leave the request here, sealed; the stored slot keeps a flag.
    let mut sealed = Vec::new();
    for slot in &mut req.credentials {
        let value = slot.value.take().filter(|v| !v.is_empty());
        slot.has_value = false;
        if let (Some(v), true) = (value, slot.action == ACTION_SET) {
            sealed.push((slot.key.clone(), state.key.seal(v.as_bytes())?));
            slot.has_value = true;
        }
    }
    let (agent_id, agent_name) = match &caller.kind {
        CallerKind::Agent { id, name, .. } => (Some(id.as_str()), Some(name.as_str())),
        _ => (None, None),
    };
    let new = db::NewProposal {
        vault_id: &vault.id,
        agent_id,
        services_json: serde_json::to_string(&req.services).map_err(ApiError::internal)?,
        credentials_json: serde_json::to_string(&req.credentials).map_err(ApiError::internal)?,
        message: &req.message,
        user_message: &req.user_message,
        sealed,
    };
    let (id, token) = state.store.write(|tx| {
        if db::pending_count(tx, &vault.id)? >= db::MAX_PENDING {
            return Err(ApiError::too_many(format!(
                "Too many pending proposals (max {})",
                db::MAX_PENDING
            )));
        }
        Ok(db::insert(tx, &new)?)
    })?;
    tracing::info!(vault = %vault.name, id, agent = agent_id.unwrap_or("-"), "proposal created");
    let url = approval_url(&state, id, &token);
    if let Some(smtp) = &state.config.smtp {
        let to = state
            .store
            .read(|c| db::member_emails(c, &vault.id).map_err(ApiError::from))?;
        let subject = format!("New proposal (#{id}) in vault \"{}\"", vault.name);
        let html = notification(&req.message, agent_name, &url);
        let smtp = smtp.clone();
        tokio::spawn(async move {
            if let Err(e) = smtp.send_html(&to, &subject, &html).await {
                tracing::warn!("could not email the proposal notification: {e}");
            }
        });
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "status": "pending",
            "vault": vault.name,
            "approval_url": url,
            "message": format!("Proposal created. Approve here: {url}"),
        })),
    ))
}

/// The notification's body: the agent (when an agent asked), the message cut to 200 bytes,
/// and the approval link.
fn notification(message: &str, agent: Option<&str>, url: &str) -> String {
    let mut cut = message.len().min(200);
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    let shown = if cut < message.len() {
        format!("{}...", &message[..cut])
    } else {
        message.to_string()
    };
    let who = match agent {
        Some(name) => format!("Agent <strong>{}</strong> asks", esc(name)),
        None => "A new proposal asks".to_string(),
    };
    format!(
        "<p>{who} for access in Agent Vault.</p>\n<p>{}</p>\n\
         <p><a href=\"{url}\">Review the proposal</a></p>\n<p>{url}</p>",
        esc(&shown),
        url = esc(url),
    )
}

async fn agent_get(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let conn = state.store.conn()?;
    let (vault, _) = authz::agent_vault(&conn, &caller, &headers)?;
    let id = parse_id(&raw_id)?;
    let p = db::get(&conn, &vault.id, id)?
        .ok_or_else(|| ApiError::not_found(format!("Proposal {id} not found")))?;
    Ok(Json(json!({
        "id": p.id,
        "status": p.status,
        "services": parse_array(&p.services_json),
        "credentials": parse_array(&p.credentials_json),
        "message": p.message,
        "review_note": p.review_note,
        "reviewed_at": time::rfc3339_opt(p.reviewed_at.as_deref()),
        "created_at": time::rfc3339(&p.created_at),
    })))
}

async fn agent_list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Params,
) -> ApiResult<Json<Value>> {
    let conn = state.store.conn()?;
    let (vault, _) = authz::agent_vault(&conn, &caller, &headers)?;
    let items: Vec<Value> = db::list(&conn, &vault.id, param(&q, "status"))?
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "status": p.status,
                "message": p.message,
                "created_at": time::rfc3339(&p.created_at),
            })
        })
        .collect();
    Ok(Json(json!({ "proposals": items })))
}

/// What the holder of an approval link may see (reference §4.16): the proposal, and whether
/// the browser's login cookie (never a bearer token) belongs to someone who may decide.
async fn approve_details(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Params,
) -> ApiResult<Json<Value>> {
    let token = param(&q, "token").ok_or_else(|| ApiError::bad_request("Missing token"))?;
    let conn = state.store.conn()?;
    let p = db::by_approval_token(&conn, token)?
        .ok_or_else(|| ApiError::not_found("Invalid or expired approval link"))?;
    if q.get("id").and_then(|i| i.parse::<i64>().ok()) != Some(p.id) {
        return Err(ApiError::bad_request("Proposal ID mismatch"));
    }
    if p.approval_link_expired() {
        return Err(ApiError::gone("Approval link has expired"));
    }
    if p.status != "pending" {
        return Ok(Json(decided_soft_error(&p.status)));
    }
    let vault = authz::find_vault_by_id(&conn, &p.vault_id)?
        .ok_or_else(|| ApiError::not_found("Invalid or expired approval link"))?;
    let (authenticated, can_approve, email) = match cookie_reviewer(&conn, &headers, &vault) {
        Some((email, can)) => (true, can, email),
        None => (false, false, String::new()),
    };
    Ok(Json(json!({
        "proposal_id": p.id,
        "vault": vault.name,
        "status": p.status,
        "user_message": p.user_message,
        "message": p.message,
        "services": parse_array(&p.services_json),
        "credentials": parse_array(&p.credentials_json),
        "created_at": time::rfc3339(&p.created_at),
        "agent_name": db::agent_name(&conn, &p)?,
        "authenticated": authenticated,
        "can_approve": can_approve,
        "user_email": email,
    })))
}

/// The soft error `approve-details` answers for a decided proposal.
fn decided_soft_error(status: &str) -> Value {
    let mut title = status.to_string();
    if let Some(first) = title.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    json!({
        "error": true,
        "error_title": title,
        "error_message": format!("This request has already been {status}."),
    })
}

/// The login session behind the `av_session` cookie (never a bearer token), with its raw
/// token; `None` unless it is a valid user login session.
pub(crate) fn cookie_session(
    conn: &rusqlite::Connection,
    headers: &HeaderMap,
) -> Option<(Caller, String)> {
    let raw = caller::cookie(headers, caller::SESSION_COOKIE)?;
    let c = caller::resolve(conn, &raw).ok()?;
    matches!(c.kind, CallerKind::User { .. }).then_some((c, raw))
}

/// The cookie's user: their email and whether they may review proposals of `vault`.
fn cookie_reviewer(
    conn: &rusqlite::Connection,
    headers: &HeaderMap,
    vault: &Vault,
) -> Option<(String, bool)> {
    let (c, _) = cookie_session(conn, headers)?;
    let CallerKind::User { email, .. } = &c.kind else {
        return None;
    };
    Some((
        email.clone(),
        authz::proposal_review(conn, &c, vault).is_ok(),
    ))
}

// ---------------------------------------------------------------------------------------
// Review side
// ---------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct ApproveBody {
    #[serde(default)]
    vault: Option<String>,
    #[serde(default)]
    credentials: Option<HashMap<String, String>>,
}

#[derive(Deserialize, Default)]
struct RejectBody {
    #[serde(default)]
    vault: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// The reviewer's actor id (`None` for a scoped session).
fn reviewer_id(caller: &Caller) -> Option<String> {
    caller.actor().ok().map(|a| a.id)
}

/// Approves and applies a proposal as `caller`, who must be a vault member or admin.
pub(crate) fn approve_as(
    state: &AppState,
    caller: &Caller,
    vault: &Vault,
    id: i64,
    overrides: &HashMap<String, String>,
) -> ApiResult<()> {
    let reviewer = reviewer_id(caller);
    state.store.write(|tx| {
        authz::proposal_review(tx, caller, vault)?;
        db::approve(
            tx,
            &state.key,
            &vault.id,
            id,
            overrides,
            reviewer.as_deref(),
        )
    })
}

/// Rejects a proposal as `caller`, who must be a vault member or admin.
pub(crate) fn reject_as(
    state: &AppState,
    caller: &Caller,
    vault: &Vault,
    id: i64,
    reason: &str,
) -> ApiResult<()> {
    let reviewer = reviewer_id(caller);
    state.store.write(|tx| {
        authz::proposal_review(tx, caller, vault)?;
        db::reject(tx, &vault.id, id, reason, reviewer.as_deref())
    })
}

async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&raw_id)?;
    let b: ApproveBody = body
        .json_or_default()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    let vault = named_vault(&state, b.vault.as_deref().filter(|v| !v.is_empty()))?;
    approve_as(
        &state,
        &caller,
        &vault,
        id,
        &b.credentials.unwrap_or_default(),
    )?;
    Ok(Json(json!({ "id": id, "status": "applied" })))
}

async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&raw_id)?;
    let b: RejectBody = body
        .json_or_default()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    let vault = named_vault(&state, b.vault.as_deref().filter(|v| !v.is_empty()))?;
    reject_as(
        &state,
        &caller,
        &vault,
        id,
        b.reason.as_deref().unwrap_or(""),
    )?;
    Ok(Json(json!({ "id": id, "status": "rejected" })))
}

/// Fields both admin views share; `services_json`/`credentials_json` stay strings as in the
/// reference.
fn admin_view(p: &Proposal) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(p.id));
    m.insert("status".into(), json!(p.status));
    m.insert("message".into(), json!(p.message));
    m.insert("services_json".into(), json!(p.services_json));
    m.insert("credentials_json".into(), json!(p.credentials_json));
    m.insert("created_at".into(), json!(time::rfc3339(&p.created_at)));
    if let Some(r) = &p.reviewed_at {
        m.insert("reviewed_at".into(), json!(time::rfc3339(r)));
    }
    m
}

async fn admin_list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Params,
) -> ApiResult<Json<Value>> {
    let vault = named_vault(&state, param(&q, "vault"))?;
    let conn = state.store.conn()?;
    let role = authz::vault_access(&conn, &caller, &vault)?;
    let status = if role == VaultRole::Proxy {
        Some("pending")
    } else {
        param(&q, "status")
    };
    let items: Vec<Value> = db::list(&conn, &vault.id, status)?
        .iter()
        .map(|p| {
            let mut m = admin_view(p);
            if !p.review_note.is_empty() {
                m.insert("review_note".into(), json!(p.review_note));
            }
            Value::Object(m)
        })
        .collect();
    Ok(Json(json!({ "proposals": items })))
}

async fn admin_get(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
    Query(q): Params,
) -> ApiResult<Json<Value>> {
    let vault = named_vault(&state, param(&q, "vault"))?;
    let conn = state.store.conn()?;
    let role = authz::vault_access(&conn, &caller, &vault)?;
    let id = parse_id(&raw_id)?;
    let p = db::get(&conn, &vault.id, id)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "Proposal #{id} not found in vault {:?}",
            vault.name
        ))
    })?;
    if role == VaultRole::Proxy && p.status != "pending" {
        return Err(ApiError::forbidden(
            "Proxy-role agents can only view pending proposals",
        ));
    }
    let mut m = admin_view(&p);
    m.insert("user_message".into(), json!(p.user_message));
    m.insert("review_note".into(), json!(p.review_note));
    Ok(Json(Value::Object(m)))
}

#[cfg(test)]
mod tests;

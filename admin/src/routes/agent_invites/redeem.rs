//! `/invite/<token>`: `GET` explains how to redeem without redeeming (DESIGN §6 fix 1), `POST`
//! redeems exactly once. A conditional `UPDATE ... WHERE status = 'pending' AND expires_at > now`
//! inside the write transaction burns the invite, so of concurrent redemptions exactly one wins.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use av_store::roles::VaultRole;
use av_store::{new_id, time, token};

use super::instructions::{self, Context};
use super::{agent_exists, agent_grants};
use crate::authz;
use crate::caller;
use crate::error::{ApiError, ApiResult};
use crate::routes::user_invites;
use crate::state::AppState;
use av_store::names::{is_slug, AGENT_NAME_INVALID};

/// An invite row as redemption needs it.
struct Invite {
    id: i64,
    agent_name: String,
    agent_id: Option<String>,
    agent_role: String,
    session_ttl: Option<i64>,
    status: String,
    expires_at: String,
    created_by: String,
}

fn find(conn: &Connection, raw: &str) -> rusqlite::Result<Option<Invite>> {
    conn.query_row(
        "SELECT id, agent_name, agent_id, agent_role, session_ttl_seconds, status, expires_at,
                created_by
         FROM invites WHERE token_hash = ?1",
        [token::hash(raw)],
        |r| {
            Ok(Invite {
                id: r.get(0)?,
                agent_name: r.get(1)?,
                agent_id: r.get(2)?,
                agent_role: r.get(3)?,
                session_ttl: r.get(4)?,
                status: r.get(5)?,
                expires_at: r.get(6)?,
                created_by: r.get(7)?,
            })
        },
    )
    .optional()
}

fn gone(code: &'static str, msg: &str) -> ApiError {
    ApiError::coded(StatusCode::GONE, code, msg)
}

fn redeemed() -> ApiError {
    gone(
        "invite_redeemed",
        "This invite has already been used — ask for a new one",
    )
}

/// The invite, if it can still be redeemed; otherwise the reference's 404/410.
fn usable(conn: &Connection, raw: &str) -> Result<Invite, ApiError> {
    let inv = find(conn, raw)?.ok_or_else(|| {
        ApiError::coded(
            StatusCode::NOT_FOUND,
            "invite_not_found",
            "Invite not found",
        )
    })?;
    match inv.status.as_str() {
        "redeemed" => Err(redeemed()),
        "revoked" => Err(gone(
            "invite_revoked",
            "This invite was revoked — ask for a new one",
        )),
        "pending" if inv.expires_at > time::now() => Ok(inv),
        _ => Err(gone(
            "invite_expired",
            "This invite has expired — ask for a new one",
        )),
    }
}

/// `GET /invite/<token>`: who the invite is for, when it expires and how to redeem it, as
/// plain text or (for `Accept: application/json`) JSON. Never redeems. User invites
/// (`av_uinv_…`) get their HTML acceptance page.
pub async fn invite_page(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if raw.starts_with(token::USER_INVITE) {
        return Ok(user_invites::invite_page(state, raw).await);
    }
    let inv = state.store.read(|c| usable(c, &raw))?;
    let url = super::invite_link(&state, &raw);
    let expires_at = time::rfc3339(&inv.expires_at);
    let rotation = inv.agent_id.is_some();
    let wants_json = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return Ok(Json(json!({
            "agent_name": inv.agent_name,
            "kind": if rotation { "rotation" } else { "agent" },
            "status": "pending",
            "expires_at": expires_at,
            "redeem": {
                "method": "POST",
                "url": url,
                "headers": {"Content-Type": "application/json"},
                "body": {},
            },
            "message": "Redeem this invite with POST and a JSON body of {}; the response contains your agent token and instructions.",
        }))
        .into_response());
    }
    let what = if rotation {
        format!(
            "This link rotates the Agent Vault token of agent \"{}\".",
            inv.agent_name
        )
    } else {
        format!(
            "This is an invite to connect to Agent Vault as agent \"{}\".",
            inv.agent_name
        )
    };
    let text = format!(
        "{what}\n\
Agent Vault is an HTTP proxy that lets you call external APIs without seeing their credentials.\n\n\
Opening this page did not redeem the invite. To redeem it, send:\n\n\
POST {url}\n\
Content-Type: application/json\n\n\
{{}}\n\n\
The response contains your agent token and instructions.\n\
The invite expires at {expires_at} and can be used once.\n"
    );
    Ok(([(CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// `POST /invite/<token>`: redeems the invite (body ignored). User invites (`av_uinv_…`)
/// go to their acceptance form handler.
pub async fn redeem(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    if raw.starts_with(token::USER_INVITE) {
        return Ok(user_invites::invite_page_submit(state, raw, body).await);
    }
    let (agent_name, agent_token, expires_at, vaults) = state.store.write(|tx| {
        let inv = usable(tx, &raw)?;
        match inv.agent_id.clone() {
            Some(agent_id) => rotate(tx, &inv, &agent_id),
            None => create_agent(tx, &inv),
        }
    })?;
    let ctx = Context {
        admin: &state.config.base_url,
        proxy_url: &state.config.proxy_url(),
        agent_name: &agent_name,
        vaults: &vaults,
        token_expires_at: expires_at.as_deref(),
    };
    let shown: Vec<Value> = vaults
        .iter()
        .map(|(v, r)| json!({"vault_name": v, "vault_role": r.as_str()}))
        .collect();
    Ok(Json(json!({
        "av_addr": state.config.base_url,
        "av_agent_token": agent_token,
        "agent_name": agent_name,
        "proxy_url": state.config.proxy_url(),
        "vaults": if shown.is_empty() { Value::Null } else { Value::from(shown) },
        "token_expires_at": expires_at,
        "instructions": instructions::render(&ctx),
    }))
    .into_response())
}

/// Name, raw token, RFC 3339 token expiry and vault grants of a redeemed invite.
type Redeemed = (String, String, Option<String>, Vec<(String, VaultRole)>);

/// Marks the invite redeemed if nobody else did first.
fn burn(conn: &Connection, inv: &Invite) -> Result<(), ApiError> {
    let n = conn.execute(
        "UPDATE invites SET status = 'redeemed', redeemed_at = ?2
         WHERE id = ?1 AND status = 'pending' AND expires_at > ?2",
        params![inv.id, time::now()],
    )?;
    if n == 1 {
        Ok(())
    } else {
        Err(redeemed())
    }
}

fn record_token(conn: &Connection, inv: &Invite, raw: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE invites SET minted_session_id = ?2 WHERE id = ?1",
        params![inv.id, token::hash(raw)],
    )?;
    Ok(())
}

/// Rotation: the agent's old tokens stop working and one new, non-expiring token is minted.
fn rotate(conn: &Connection, inv: &Invite, agent_id: &str) -> Result<Redeemed, ApiError> {
    let name: Option<String> = conn
        .query_row(
            "SELECT name FROM agents WHERE id = ?1 AND status = 'active'",
            [agent_id],
            |r| r.get(0),
        )
        .optional()?;
    let name = name.ok_or_else(|| {
        gone(
            "agent_not_found",
            "The agent for this rotation invite no longer exists or has been revoked",
        )
    })?;
    burn(conn, inv)?;
    conn.execute("DELETE FROM sessions WHERE agent_id = ?1", [agent_id])?;
    let (raw, _) = caller::create_session(conn, None, Some(agent_id), None, None)?;
    record_token(conn, inv, &raw)?;
    Ok((name, raw, None, agent_grants(conn, agent_id)?))
}

/// A new agent with the invite's role and pre-assigned vaults.
fn create_agent(conn: &Connection, inv: &Invite) -> Result<Redeemed, ApiError> {
    let name = inv.agent_name.as_str();
    if name.is_empty() {
        return Err(ApiError::coded(
            StatusCode::BAD_REQUEST,
            "name_required",
            "Agent name is required",
        ));
    }
    if !is_slug(name) {
        return Err(ApiError::coded(
            StatusCode::BAD_REQUEST,
            "invalid_name",
            AGENT_NAME_INVALID,
        ));
    }
    let taken = || {
        ApiError::coded(
            StatusCode::CONFLICT,
            "name_taken",
            format!("An agent named {name:?} already exists"),
        )
    };
    if agent_exists(conn, name)? {
        return Err(taken());
    }
    burn(conn, inv)?;
    let id = new_id();
    let now = time::now();
    conn.execute(
        "INSERT INTO agents (id, name, status, role, created_by, created_at, updated_at)
         VALUES (?1, ?2, 'active', ?3, ?4, ?5, ?5)",
        params![id, name, inv.agent_role, inv.created_by, now],
    )
    .map_err(|_| taken())?;
    let mut stmt =
        conn.prepare("SELECT vault_id, vault_role FROM agent_invite_vaults WHERE invite_id = ?1")?;
    let pre: Vec<(String, String)> = stmt
        .query_map([inv.id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (vault_id, role) in pre {
        let role = role.parse().unwrap_or(VaultRole::Proxy);
        authz::upsert_grant(conn, (&id, "agent"), &vault_id, role)?;
    }
    let (raw, expires_at) = caller::create_session(conn, None, Some(&id), None, inv.session_ttl)?;
    record_token(conn, inv, &raw)?;
    Ok((
        name.to_string(),
        raw,
        expires_at.as_deref().map(time::rfc3339),
        agent_grants(conn, &id)?,
    ))
}

//! Vault-level agents (reference §4.19, DESIGN §6 fix 7): who among the agents may use a
//! vault, and with which role. An agent whose invite is still pending can be pre-assigned;
//! the grant is applied when it redeems. Vault members may add agents with role `proxy`;
//! any other grant or change needs a vault admin.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};

use av_store::names::quote;
use av_store::roles::VaultRole;

use super::agent_invites::pending_invite_for;
use crate::authz::{self, Vault};
use crate::body::RawBody;
use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/vaults/{name}/agents", get(list).post(add))
        .route("/v1/vaults/{name}/agents/{agent}", delete(remove))
        .route("/v1/vaults/{name}/agents/{agent}/role", post(set_role))
}

const ROLE_RULE: &str = "Role must be one of: proxy, member, admin";

/// An agent's id and status by name.
fn agent(conn: &Connection, name: &str) -> rusqlite::Result<Option<(String, String)>> {
    conn.query_row(
        "SELECT id, status FROM agents WHERE name = ?1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Agent {} not found", quote(name)))
}

/// The role a pending invite pre-assigns in a vault, if any.
fn pre_assigned(
    conn: &Connection,
    invite_id: i64,
    vault_id: &str,
) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT vault_role FROM agent_invite_vaults WHERE invite_id = ?1 AND vault_id = ?2",
        params![invite_id, vault_id],
        |r| r.get(0),
    )
    .optional()
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let agents = state.store.read(|c| {
        let v = authz::vault_or_404(c, &name)?;
        authz::vault_access(c, &caller, &v)?;
        let mut stmt = c.prepare(
            "SELECT a.name, a.id, g.role, a.status FROM vault_grants g
             JOIN agents a ON a.id = g.actor_id
             WHERE g.vault_id = ?1 AND g.actor_type = 'agent' ORDER BY a.name",
        )?;
        let mut out: Vec<Value> = stmt
            .query_map([&v.id], |r| {
                Ok(json!({
                    "name": r.get::<_, String>(0)?,
                    "agent_id": r.get::<_, String>(1)?,
                    "vault_role": r.get::<_, String>(2)?,
                    "status": r.get::<_, String>(3)?,
                }))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = c.prepare(
            "SELECT i.agent_name, iv.vault_role FROM invites i
             JOIN agent_invite_vaults iv ON iv.invite_id = i.id
             WHERE iv.vault_id = ?1 AND i.status = 'pending' AND i.agent_id IS NULL
               AND i.expires_at > ?2
               AND NOT EXISTS (SELECT 1 FROM agents WHERE name = i.agent_name)
             ORDER BY i.agent_name",
        )?;
        let pending = stmt
            .query_map(params![v.id, av_store::time::now()], |r| {
                Ok(json!({
                    "name": r.get::<_, String>(0)?,
                    "agent_id": "",
                    "vault_role": r.get::<_, String>(1)?,
                    "status": "pending",
                }))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.extend(pending);
        Ok::<_, ApiError>(out)
    })?;
    Ok(Json(json!({ "agents": agents })))
}

#[derive(Deserialize)]
struct AddBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

/// Vault admins may grant any role; vault members only `proxy`.
fn may_grant(
    conn: &Connection,
    caller: &Caller,
    v: &Vault,
    role: VaultRole,
) -> Result<(), ApiError> {
    let own = authz::vault_member(conn, caller, v)?;
    if own == VaultRole::Admin || role == VaultRole::Proxy {
        Ok(())
    } else {
        Err(ApiError::forbidden("Vault admin role required"))
    }
}

async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Path(vault): Path<String>,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req = body
        .json::<AddBody>()
        .ok()
        .filter(|b| !b.name.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("Request body must include {\"name\": \"agent-name\"}")
        })?;
    let role = if req.role.is_empty() {
        VaultRole::Proxy
    } else {
        req.role
            .parse()
            .map_err(|_| ApiError::bad_request(ROLE_RULE))?
    };
    let name = req.name;
    let qn = quote(&name);
    let message = state.store.write(|tx| {
        let v = authz::vault_or_404(tx, &vault)?;
        may_grant(tx, &caller, &v, role)?;
        let Some((id, status)) = agent(tx, &name)? else {
            let invite = pending_invite_for(tx, &name)?.ok_or_else(|| not_found(&name))?;
            if pre_assigned(tx, invite, &v.id)?.is_some() {
                return Err(ApiError::conflict(format!(
                    "Agent {qn} is already pre-assigned to vault {:?}",
                    v.name
                )));
            }
            tx.execute(
                "INSERT INTO agent_invite_vaults (invite_id, vault_id, vault_role) VALUES (?1, ?2, ?3)",
                params![invite, v.id, role.as_str()],
            )?;
            return Ok(format!(
                "agent {qn} pre-assigned to vault {:?} with role {:?} (pending invite acceptance)",
                v.name,
                role.as_str()
            ));
        };
        if status == "revoked" {
            return Err(ApiError::conflict("Agent is revoked"));
        }
        if authz::grant_role(tx, &id, &v.id)?.is_some() {
            return Err(ApiError::conflict(format!(
                "Agent {qn} already has access to vault {:?}",
                v.name
            )));
        }
        authz::upsert_grant(tx, (&id, "agent"), &v.id, role)?;
        Ok::<_, ApiError>(format!(
            "agent {qn} added to vault {:?} with role {:?}",
            v.name,
            role.as_str()
        ))
    })?;
    Ok((StatusCode::CREATED, Json(json!({ "message": message }))))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((vault, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let qn = quote(&name);
    let message = state.store.write(|tx| {
        let v = authz::vault_or_404(tx, &vault)?;
        authz::vault_admin(tx, &caller, &v)?;
        let Some((id, _)) = agent(tx, &name)? else {
            let invite = pending_invite_for(tx, &name)?.ok_or_else(|| not_found(&name))?;
            tx.execute(
                "DELETE FROM agent_invite_vaults WHERE invite_id = ?1 AND vault_id = ?2",
                params![invite, v.id],
            )?;
            return Ok(format!(
                "agent {qn} pre-assignment removed from vault {:?}",
                v.name
            ));
        };
        let n = tx.execute(
            "DELETE FROM vault_grants WHERE actor_id = ?1 AND vault_id = ?2",
            params![id, v.id],
        )?;
        if n == 0 {
            return Err(ApiError::not_found(format!(
                "Agent {qn} does not have access to vault {:?}",
                v.name
            )));
        }
        Ok::<_, ApiError>(format!("agent {qn} removed from vault {:?}", v.name))
    })?;
    Ok(Json(json!({ "message": message })))
}

#[derive(Deserialize)]
struct RoleBody {
    #[serde(default)]
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((vault, name)): Path<(String, String)>,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let role = body
        .json::<RoleBody>()
        .ok()
        .map(|b| b.role)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("Request body must include {\"role\": \"proxy|member|admin\"}")
        })?;
    let qn = quote(&name);
    let new: VaultRole = role.parse().map_err(|_| ApiError::bad_request(ROLE_RULE))?;
    state.store.write(|tx| {
        let v = authz::vault_or_404(tx, &vault)?;
        authz::vault_admin(tx, &caller, &v)?;
        let no_access = || {
            ApiError::not_found(format!(
                "Agent {qn} does not have access to vault {:?}",
                v.name
            ))
        };
        let Some((id, _)) = agent(tx, &name)? else {
            let invite = pending_invite_for(tx, &name)?.ok_or_else(|| not_found(&name))?;
            pre_assigned(tx, invite, &v.id)?.ok_or_else(no_access)?;
            tx.execute(
                "UPDATE agent_invite_vaults SET vault_role = ?3 WHERE invite_id = ?1 AND vault_id = ?2",
                params![invite, v.id, new.as_str()],
            )?;
            return Ok(Json(json!({
                "message": format!(
                    "agent {qn} vault {:?} pre-assignment role updated to {:?}",
                    v.name,
                    new.as_str()
                ),
            })));
        };
        let old = authz::grant_role(tx, &id, &v.id)?.ok_or_else(no_access)?;
        authz::upsert_grant(tx, (&id, "agent"), &v.id, new)?;
        Ok::<_, ApiError>(Json(json!({
            "message": format!(
                "agent {qn} role in vault {:?} updated to {:?}",
                v.name,
                new.as_str()
            ),
            "old_role": old.as_str(),
            "new_role": new.as_str(),
        })))
    })
}

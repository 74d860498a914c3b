//! Instance-level agents (reference §4.18): list, info, revoke ("delete"), rotate, rename and
//! instance role. Scoped sessions have no actor and see none of this (DESIGN §6 fix 9).

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};

use av_store::roles::InstanceRole;
use av_store::time;

use super::agent_invites::{
    agent_grants, insert_invite, invite_link, invite_vaults, pending_invite_for, sweep_expired,
    NewInvite,
};
use crate::authz;
use crate::body::RawBody;
use crate::caller::{Actor, Caller};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use av_store::names::{is_slug, AGENT_NAME_INVALID};

/// Lifetime of a rotation invite (15 minutes).
const ROTATION_TTL: i64 = 900;

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/agents", get(list))
        .route("/v1/agents/{name}", get(info).delete(revoke))
        .route("/v1/agents/{name}/rotate", post(rotate))
        .route("/v1/agents/{name}/rename", post(rename))
        .route("/v1/agents/{name}/role", post(set_role))
}

/// An agent row.
struct Agent {
    id: String,
    name: String,
    status: String,
    role: String,
    created_by: String,
    created_at: String,
    updated_at: String,
    revoked_at: Option<String>,
}

fn find(conn: &Connection, name: &str) -> rusqlite::Result<Option<Agent>> {
    conn.query_row(
        "SELECT id, name, status, role, created_by, created_at, updated_at, revoked_at
         FROM agents WHERE name = ?1",
        [name],
        |r| {
            Ok(Agent {
                id: r.get(0)?,
                name: r.get(1)?,
                status: r.get(2)?,
                role: r.get(3)?,
                created_by: r.get(4)?,
                created_at: r.get(5)?,
                updated_at: r.get(6)?,
                revoked_at: r.get(7)?,
            })
        },
    )
    .optional()
}

fn find_or_404(conn: &Connection, name: &str) -> Result<Agent, ApiError> {
    find(conn, name)?.ok_or_else(|| ApiError::not_found("Agent not found"))
}

/// Owner, or the actor that created the agent.
fn owner_or_creator(actor: &Actor, agent: &Agent, verb: &str) -> Result<(), ApiError> {
    if actor.is_owner() || actor.id == agent.created_by {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "Only the owner or agent creator can {verb} agents"
        )))
    }
}

/// `[{"vault_name","vault_role"}]` of an agent's grants.
fn grants(conn: &Connection, agent_id: &str) -> rusqlite::Result<Vec<Value>> {
    Ok(agent_grants(conn, agent_id)?
        .into_iter()
        .map(|(v, r)| json!({"vault_name": v, "vault_role": r.as_str()}))
        .collect())
}

/// Unexpired tokens of an agent and, when all of them expire, the latest expiry.
fn token_state(conn: &Connection, agent_id: &str) -> rusqlite::Result<(i64, Option<String>)> {
    conn.query_row(
        "SELECT COUNT(*), CASE WHEN COUNT(*) > 0 AND SUM(expires_at IS NULL) = 0
                               THEN MAX(expires_at) END
         FROM sessions WHERE agent_id = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
        params![agent_id, time::now()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

fn render(conn: &Connection, a: &Agent, detail: bool) -> rusqlite::Result<Value> {
    let mut v = json!({
        "name": a.name,
        "role": a.role,
        "status": a.status,
        "vaults": grants(conn, &a.id)?,
        "created_at": time::rfc3339(&a.created_at),
    });
    if detail {
        v["created_by"] = json!(a.created_by);
        v["updated_at"] = json!(time::rfc3339(&a.updated_at));
    }
    if let Some(r) = &a.revoked_at {
        v["revoked_at"] = json!(time::rfc3339(r));
    }
    if a.status == "active" {
        let (count, expiry) = token_state(conn, &a.id)?;
        if detail {
            v["active_tokens"] = json!(count);
        }
        if let Some(e) = expiry {
            v["token_expires_at"] = json!(time::rfc3339(&e));
        }
    } else if detail {
        v["active_tokens"] = json!(0);
    }
    Ok(v)
}

async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let actor = caller.actor()?;
    let agents = state.store.write(|tx| {
        sweep_expired(tx)?;
        // Non-owners see agents (and pending invites) sharing at least one vault with them.
        let mut stmt = tx.prepare(
            "SELECT name FROM agents a
             WHERE ?1 OR EXISTS (
                 SELECT 1 FROM vault_grants g JOIN vault_grants mine
                   ON mine.vault_id = g.vault_id AND mine.actor_id = ?2
                 WHERE g.actor_id = a.id)
             ORDER BY name",
        )?;
        let names: Vec<String> = stmt
            .query_map(params![actor.is_owner(), actor.id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(names.len());
        for n in &names {
            if let Some(a) = find(tx, n)? {
                out.push(render(tx, &a, false)?);
            }
        }
        let mut stmt = tx.prepare(
            "SELECT id, agent_name, agent_role, created_at FROM invites i
             WHERE status = 'pending' AND agent_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM agents WHERE name = i.agent_name)
               AND (?1 OR EXISTS (
                 SELECT 1 FROM agent_invite_vaults iv JOIN vault_grants mine
                   ON mine.vault_id = iv.vault_id AND mine.actor_id = ?2
                 WHERE iv.invite_id = i.id))
             ORDER BY agent_name",
        )?;
        let pending: Vec<(i64, String, String, String)> = stmt
            .query_map(params![actor.is_owner(), actor.id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for (id, name, role, created) in pending {
            out.push(json!({
                "name": name,
                "role": role,
                "status": "pending",
                "vaults": invite_vaults(tx, id)?,
                "created_at": time::rfc3339(&created),
            }));
        }
        Ok::<_, ApiError>(out)
    })?;
    Ok(Json(json!({ "agents": agents })))
}

async fn info(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.actor()?;
    let v = state.store.read(|c| {
        let a = find_or_404(c, &name)?;
        Ok::<_, ApiError>(render(c, &a, true)?)
    })?;
    Ok(Json(v))
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let actor = caller.actor()?;
    state.store.write(|tx| {
        let a = find_or_404(tx, &name)?;
        owner_or_creator(&actor, &a, "revoke")?;
        if a.status == "revoked" {
            return Err(ApiError::conflict("Agent is already revoked"));
        }
        if a.role == "owner" && authz::count_owners(tx)? <= 1 {
            return Err(ApiError::conflict("Cannot revoke the last owner"));
        }
        let now = time::now();
        tx.execute(
            "UPDATE agents SET status = 'revoked', revoked_at = ?2, updated_at = ?2 WHERE id = ?1",
            params![a.id, now],
        )?;
        tx.execute("DELETE FROM sessions WHERE agent_id = ?1", [&a.id])?;
        tx.execute(
            "UPDATE invites SET status = 'revoked', revoked_at = ?2
             WHERE agent_id = ?1 AND status = 'pending'",
            params![a.id, now],
        )?;
        Ok::<_, ApiError>(())
    })?;
    Ok(Json(
        json!({ "message": format!("agent {name:?} revoked") }),
    ))
}

/// The message an agent reads when its token is being rotated.
fn rotation_prompt(url: &str) -> String {
    format!(
        "Your Agent Vault agent token is being rotated. To receive a new token, make this HTTP request:\n\n\
POST {url}\n\
Content-Type: application/json\n\n\
{{}}\n\n\
The response contains your new agent token and updated instructions; use the new token from now on \
(the old one stops working once this request succeeds).\n\
This link expires in 15 minutes and can only be used once."
    )
}

async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let actor = caller.actor()?;
    let raw = state.store.write(|tx| {
        let a = find_or_404(tx, &name)?;
        owner_or_creator(&actor, &a, "rotate")?;
        if a.status == "revoked" {
            return Err(ApiError::conflict("Agent is revoked — cannot rotate"));
        }
        let (raw, _) = insert_invite(
            tx,
            &NewInvite {
                agent_name: &a.name,
                agent_id: Some(&a.id),
                role: a.role.parse().unwrap_or(InstanceRole::Member),
                ttl: ROTATION_TTL,
                session_ttl: None,
                created_by: &actor.id,
                vaults: &[],
            },
        )?;
        Ok::<_, ApiError>(raw)
    })?;
    let url = invite_link(&state, &raw);
    Ok(Json(json!({
        "invite_url": url,
        "prompt": rotation_prompt(&url),
        "expires_in": "15m",
    })))
}

#[derive(Deserialize)]
struct NameBody {
    #[serde(default)]
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let actor = caller.actor()?;
    let new = body.json::<NameBody>().map(|b| b.name);
    state
        .store
        .write(|tx| {
            let a = find_or_404(tx, &name)?;
            owner_or_creator(&actor, &a, "rename")?;
            let new = new.ok().filter(|n| !n.is_empty()).ok_or_else(|| {
                ApiError::bad_request("Request body must include {\"name\": \"new-name\"}")
            })?;
            if !is_slug(&new) {
                return Err(ApiError::bad_request(AGENT_NAME_INVALID));
            }
            if new == a.name {
                return Ok(new);
            }
            if find(tx, &new)?.is_some() {
                return Err(ApiError::conflict(format!(
                    "An agent named {new:?} already exists"
                )));
            }
            sweep_expired(tx)?;
            if pending_invite_for(tx, &new)?.is_some() {
                return Err(ApiError::conflict(format!(
                    "A pending invite for agent {new:?} already exists"
                )));
            }
            tx.execute(
                "UPDATE agents SET name = ?2, updated_at = ?3 WHERE id = ?1",
                params![a.id, new, time::now()],
            )?;
            tx.execute(
                "UPDATE invites SET agent_name = ?2 WHERE agent_id = ?1 AND status = 'pending'",
                params![a.id, new],
            )?;
            Ok::<_, ApiError>(new)
        })
        .map(|new| {
            Json(json!({
                "message": format!("agent renamed from {name:?} to {new:?}"),
                "old_name": name,
                "new_name": new,
            }))
        })
}

#[derive(Deserialize)]
struct RoleBody {
    #[serde(default)]
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    caller.owner()?;
    let role = body
        .json::<RoleBody>()
        .ok()
        .map(|b| b.role)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("Request body must include {\"role\": \"owner|member\"}")
        })?;
    let new: InstanceRole = role
        .parse()
        .map_err(|_| ApiError::bad_request("Role must be one of: owner, member"))?;
    let old = state.store.write(|tx| {
        let a = find_or_404(tx, &name)?;
        if a.status == "revoked" {
            return Err(ApiError::conflict("Agent is revoked"));
        }
        if a.role == "owner" && new == InstanceRole::Member && authz::count_owners(tx)? <= 1 {
            return Err(ApiError::conflict("Cannot demote the last owner"));
        }
        tx.execute(
            "UPDATE agents SET role = ?2, updated_at = ?3 WHERE id = ?1",
            params![a.id, new.as_str(), time::now()],
        )?;
        Ok::<_, ApiError>(a.role)
    })?;
    Ok(Json(json!({
        "agent": name,
        "old_role": old,
        "new_role": new.as_str(),
    })))
}

//! Agent invites (reference §4.17, DESIGN §6 fixes 1, 2, 3, 5): an operator creates an invite,
//! pastes its link into an agent's chat, and the agent redeems it with `POST /invite/<token>`
//! to become a named agent with an instance-level `av_agt_` token.
//!
//! Only the SHA-256 of an invite token is stored, plus its last 8 characters (`token_suffix`)
//! so a person can revoke an invite they can see in a list without ever seeing its token.
//! Rotation invites (`agent_id` set) are created by `POST /v1/agents/{name}/rotate`.

mod instructions;
mod redeem;
#[cfg(test)]
mod tests;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};

use av_store::roles::{InstanceRole, VaultRole};
use av_store::{time, token};

use crate::authz;
use crate::body::RawBody;
use crate::caller::{Actor, Caller};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use av_store::names::{is_slug, quote, AGENT_NAME_INVALID};

/// Lifetime of an invite when none is asked for (15 minutes, DESIGN §6 fix 2).
pub const DEFAULT_INVITE_TTL: i64 = 900;
/// Longest invite lifetime (7 days).
const MAX_INVITE_TTL: i64 = 604_800;
/// Bounds of an agent token lifetime when the invite sets one.
const MIN_SESSION_TTL: i64 = 300;
const MAX_SESSION_TTL: i64 = 604_800;
/// Most pending invites (agent and rotation) the instance holds at once.
const MAX_PENDING: i64 = 50;
/// How many trailing characters of a token are kept for revoke-by-suffix.
pub const SUFFIX_LEN: usize = 8;

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/agents/invites", get(list).post(create))
        .route("/v1/agents/invites/by-id/{id}", delete(revoke_by_id))
        .route("/v1/agents/invites/{token}", delete(revoke_by_token))
        .route(
            "/invite/{token}",
            get(redeem::invite_page).post(redeem::redeem),
        )
}

/// Marks pending invites whose time is up as `expired`.
pub fn sweep_expired(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE invites SET status = 'expired' WHERE status = 'pending' AND expires_at <= ?1",
        [time::now()],
    )?;
    Ok(())
}

/// The vault pre-assignments of an invite as `[{"vault_name","vault_role"}]`.
pub fn invite_vaults(conn: &Connection, invite_id: i64) -> rusqlite::Result<Vec<Value>> {
    let mut stmt = conn.prepare(
        "SELECT v.name, iv.vault_role FROM agent_invite_vaults iv JOIN vaults v ON v.id = iv.vault_id
         WHERE iv.invite_id = ?1 ORDER BY v.name",
    )?;
    let rows = stmt.query_map([invite_id], |r| {
        Ok(json!({"vault_name": r.get::<_, String>(0)?, "vault_role": r.get::<_, String>(1)?}))
    })?;
    rows.collect()
}

/// What a new invite is for.
pub struct NewInvite<'a> {
    /// Name the agent will get (rotation: its current name).
    pub agent_name: &'a str,
    /// The agent being rotated, for rotation invites.
    pub agent_id: Option<&'a str>,
    /// Instance role of the future agent.
    pub role: InstanceRole,
    /// Invite lifetime in seconds.
    pub ttl: i64,
    /// Lifetime of the minted agent token (`None`: never expires).
    pub session_ttl: Option<i64>,
    /// Actor id of the creator.
    pub created_by: &'a str,
    /// Pre-assigned vaults (vault id, role).
    pub vaults: &'a [(String, VaultRole)],
}

/// Inserts an invite; returns the raw token and the stored expiry.
pub fn insert_invite(conn: &Connection, inv: &NewInvite<'_>) -> rusqlite::Result<(String, String)> {
    let minted = token::mint(token::INVITE);
    let expires_at = time::in_seconds(inv.ttl);
    conn.execute(
        "INSERT INTO invites (token_hash, token_suffix, agent_name, agent_id, agent_role,
                              session_ttl_seconds, status, created_by, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?9)",
        params![
            minted.hash,
            token::suffix(&minted.raw, SUFFIX_LEN),
            inv.agent_name,
            inv.agent_id,
            inv.role.as_str(),
            inv.session_ttl,
            inv.created_by,
            time::now(),
            expires_at,
        ],
    )?;
    let id = conn.last_insert_rowid();
    for (vault_id, role) in inv.vaults {
        conn.execute(
            "INSERT INTO agent_invite_vaults (invite_id, vault_id, vault_role) VALUES (?1, ?2, ?3)
             ON CONFLICT(invite_id, vault_id) DO UPDATE SET vault_role = excluded.vault_role",
            params![id, vault_id, role.as_str()],
        )?;
    }
    Ok((minted.raw, expires_at))
}

/// The link an agent redeems.
pub fn invite_link(state: &AppState, raw: &str) -> String {
    format!("{}/invite/{raw}", state.config.base_url)
}

/// The id of the pending (not rotation) invite for `name`, if any.
pub fn pending_invite_for(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM invites WHERE agent_name = ?1 AND status = 'pending' AND agent_id IS NULL
         ORDER BY id DESC LIMIT 1",
        [name],
        |r| r.get(0),
    )
    .optional()
}

/// Whether an agent named `name` exists (any status).
pub fn agent_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM agents WHERE name = ?1)",
        [name],
        |r| r.get(0),
    )
}

/// The grants of an agent as (vault name, role), by vault name.
pub fn agent_grants(
    conn: &Connection,
    agent_id: &str,
) -> rusqlite::Result<Vec<(String, VaultRole)>> {
    let mut stmt = conn.prepare(
        "SELECT v.name, g.role FROM vault_grants g JOIN vaults v ON v.id = g.vault_id
         WHERE g.actor_id = ?1 ORDER BY v.name",
    )?;
    let rows = stmt.query_map([agent_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?.parse().unwrap_or(VaultRole::Proxy),
        ))
    })?;
    rows.collect()
}

#[derive(Deserialize)]
struct VaultEntry {
    #[serde(default)]
    vault_name: String,
    #[serde(default)]
    vault_role: String,
}

#[derive(Deserialize)]
struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    ttl_seconds: Option<i64>,
    session_ttl_seconds: Option<i64>,
    #[serde(default)]
    vaults: Option<Vec<VaultEntry>>,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: CreateBody = body
        .json()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    if req.name.is_empty() {
        return Err(ApiError::bad_request("Agent name is required"));
    }
    if !is_slug(&req.name) {
        return Err(ApiError::bad_request(AGENT_NAME_INVALID));
    }
    let ttl = match req.ttl_seconds {
        Some(t) if t > 0 => t.min(MAX_INVITE_TTL),
        _ => DEFAULT_INVITE_TTL,
    };
    let session_ttl = req
        .session_ttl_seconds
        .filter(|t| *t > 0)
        .map(|t| t.clamp(MIN_SESSION_TTL, MAX_SESSION_TTL));
    let actor = caller.actor()?;
    let (raw, expires_at, vaults) = state.store.write(|tx| {
        sweep_expired(tx)?;
        if agent_exists(tx, &req.name)? {
            return Err(ApiError::conflict(format!(
                "An agent named {:?} already exists",
                req.name
            )));
        }
        if pending_invite_for(tx, &req.name)?.is_some() {
            return Err(ApiError::conflict(format!(
                "A pending invite for agent {:?} already exists",
                req.name
            )));
        }
        let pending: i64 = tx.query_row(
            "SELECT COUNT(*) FROM invites WHERE status = 'pending'",
            [],
            |r| r.get(0),
        )?;
        if pending >= MAX_PENDING {
            return Err(ApiError::too_many(format!(
                "Too many pending invites ({pending}) — revoke some before creating new ones"
            )));
        }
        let mut vaults = Vec::new();
        for entry in req.vaults.iter().flatten() {
            vaults.push(pre_assignment(
                tx,
                &actor,
                &entry.vault_name,
                &entry.vault_role,
            )?);
        }
        let role = if req.role.is_empty() {
            InstanceRole::Member
        } else {
            req.role
                .parse::<InstanceRole>()
                .map_err(|_| ApiError::bad_request("Role must be one of: owner, member"))?
        };
        if role == InstanceRole::Owner && !actor.is_owner() {
            return Err(ApiError::forbidden(
                "Only owners can create owner-role agent invites",
            ));
        }
        let ids: Vec<(String, VaultRole)> =
            vaults.iter().map(|(v, r)| (v.id.clone(), *r)).collect();
        let (raw, expires_at) = insert_invite(
            tx,
            &NewInvite {
                agent_name: &req.name,
                agent_id: None,
                role,
                ttl,
                session_ttl,
                created_by: &actor.id,
                vaults: &ids,
            },
        )?;
        let shown: Vec<Value> = vaults
            .iter()
            .map(|(v, r)| json!({"vault_name": v.name, "vault_role": r.as_str()}))
            .collect();
        Ok::<_, ApiError>((raw, expires_at, shown))
    })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": raw,
            "agent_name": req.name,
            "vaults": vaults,
            "invite_link": invite_link(&state, &raw),
            "expires_at": time::rfc3339(&expires_at),
        })),
    ))
}

/// Checks one `{vault_name, vault_role}` pre-assignment: owners may pre-assign any vault,
/// vault admins any role, vault members role `proxy` only (DESIGN §6 fix 7).
fn pre_assignment(
    conn: &Connection,
    actor: &Actor,
    vault_name: &str,
    role: &str,
) -> Result<(authz::Vault, VaultRole), ApiError> {
    let role = if role.is_empty() {
        VaultRole::Proxy
    } else {
        role.parse::<VaultRole>().map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid vault role {} for vault {}",
                quote(role),
                quote(vault_name)
            ))
        })?
    };
    let vault = authz::vault_or_404(conn, vault_name)?;
    if !actor.is_owner() {
        let own = authz::grant_role(conn, &actor.id, &vault.id)?;
        let allowed = match own {
            Some(VaultRole::Admin) => true,
            Some(VaultRole::Member) => role == VaultRole::Proxy,
            _ => false,
        };
        if !allowed {
            return Err(ApiError::forbidden(format!(
                "You must be an admin of vault {vault_name:?} to pre-assign it"
            )));
        }
    }
    Ok((vault, role))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let actor = caller.actor()?;
    let status = q.status.filter(|s| !s.is_empty());
    let invites = state.store.write(|tx| {
        sweep_expired(tx)?;
        let mut stmt = tx.prepare(
            "SELECT id, agent_name, agent_role, status, created_at, expires_at, redeemed_at,
                    minted_session_id, token_suffix, agent_id
             FROM invites i
             WHERE (?1 IS NULL OR status = ?1)
               AND (?2 OR created_by = ?3 OR EXISTS (
                     SELECT 1 FROM agent_invite_vaults iv JOIN vault_grants g
                       ON g.vault_id = iv.vault_id AND g.actor_id = ?3 AND g.role = 'admin'
                     WHERE iv.invite_id = i.id))
             ORDER BY created_at DESC, id DESC",
        )?;
        type Row = (
            i64,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            String,
            Option<String>,
        );
        let rows: Vec<Row> = stmt
            .query_map(params![status, actor.is_owner(), actor.id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, name, role, status, created, expires, redeemed, minted, suffix, agent_id) in rows {
            let vaults = invite_vaults(tx, id)?;
            let mut item = json!({
                "id": id,
                "agent_name": name,
                "agent_role": role,
                "status": status,
                "token_suffix": suffix,
                "rotation": agent_id.is_some(),
                "vaults": if vaults.is_empty() { Value::Null } else { Value::from(vaults) },
                "created_at": time::rfc3339(&created),
                "expires_at": time::rfc3339(&expires),
            });
            if let Some(r) = redeemed {
                item["redeemed_at"] = json!(time::rfc3339(&r));
            }
            if let Some(m) = minted {
                let exp: Option<Option<String>> = tx
                    .query_row("SELECT expires_at FROM sessions WHERE id = ?1", [&m], |r| {
                        r.get(0)
                    })
                    .optional()?;
                if let Some(exp) = exp {
                    item["token_expires_at"] =
                        json!(exp.as_deref().map(time::rfc3339).unwrap_or_default());
                }
            }
            out.push(item);
        }
        Ok::<_, ApiError>(out)
    })?;
    Ok(Json(json!({ "invites": invites })))
}

async fn revoke_by_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(tok): Path<String>,
) -> ApiResult<Json<Value>> {
    let actor = caller.actor()?;
    state.store.write(|tx| {
        let id: Option<i64> = tx
            .query_row(
                "SELECT id FROM invites WHERE token_hash = ?1",
                [token::hash(&tok)],
                |r| r.get(0),
            )
            .optional()?;
        let id = match id {
            Some(id) => Some(id),
            None if tok.len() >= SUFFIX_LEN => tx
                .query_row(
                    "SELECT id FROM invites WHERE token_suffix = ?1
                     ORDER BY status = 'pending' DESC, id DESC LIMIT 1",
                    [token::suffix(&tok, SUFFIX_LEN)],
                    |r| r.get(0),
                )
                .optional()?,
            None => None,
        };
        revoke(tx, &actor, id)
    })
}

async fn revoke_by_id(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("Invalid invite ID"))?;
    let actor = caller.actor()?;
    state.store.write(|tx| {
        let found: Option<i64> = tx
            .query_row("SELECT id FROM invites WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        revoke(tx, &actor, found)
    })
}

fn invite_not_found() -> ApiError {
    ApiError::coded(
        StatusCode::NOT_FOUND,
        "invite_not_found",
        "Invite not found",
    )
}

/// Revokes a pending invite the actor may manage: owners, its creator, or an admin of a vault
/// it pre-assigns.
fn revoke(conn: &Connection, actor: &Actor, id: Option<i64>) -> ApiResult<Json<Value>> {
    let id = id.ok_or_else(invite_not_found)?;
    let (status, created_by): (String, String) = conn.query_row(
        "SELECT status, created_by FROM invites WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let vault_admin: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM agent_invite_vaults iv JOIN vault_grants g
           ON g.vault_id = iv.vault_id AND g.actor_id = ?2 AND g.role = 'admin'
         WHERE iv.invite_id = ?1)",
        params![id, actor.id],
        |r| r.get(0),
    )?;
    if !(actor.is_owner() || created_by == actor.id || vault_admin) {
        return Err(ApiError::forbidden(
            "You do not have permission to revoke this invite",
        ));
    }
    if status != "pending" {
        return Err(ApiError::conflict(format!("Invite is already {status}")));
    }
    conn.execute(
        "UPDATE invites SET status = 'revoked', revoked_at = ?2 WHERE id = ?1",
        params![id, time::now()],
    )?;
    Ok(Json(json!({ "status": "revoked" })))
}

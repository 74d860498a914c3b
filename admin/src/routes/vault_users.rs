//! Vault users (reference §4.11): the people with a direct grant on a vault, plus pending
//! user-invite pre-assignments. Vault admins add, remove and re-role them; the last admin of a
//! vault (users and agents together) can be neither removed nor demoted.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use rusqlite::{Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};

use av_store::roles::VaultRole;
use av_store::time;

use crate::authz::{self, Vault};
use crate::body::RawBody;
use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::users;

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/vaults/{name}/users", get(list).post(add))
        .route("/v1/vaults/{name}/users/{email}", delete(remove))
        .route("/v1/vaults/{name}/users/{email}/role", post(set_role))
}

/// Parses a role a vault user may hold (`admin` or `member`; empty means `member`).
fn user_role(raw: &str) -> ApiResult<VaultRole> {
    match raw {
        "" | "member" => Ok(VaultRole::Member),
        "admin" => Ok(VaultRole::Admin),
        _ => Err(ApiError::bad_request("Role must be 'admin' or 'member'")),
    }
}

/// A user's id by email, or the route's 404.
fn user_id(conn: &Connection, email: &str, not_found: String) -> ApiResult<String> {
    conn.query_row("SELECT id FROM users WHERE email = ?1", [email], |r| {
        r.get(0)
    })
    .optional()?
    .ok_or_else(|| ApiError::not_found(not_found))
}

/// Looks the vault up and requires the caller to be its admin.
fn admin_vault(conn: &Connection, caller: &Caller, name: &str) -> ApiResult<Vault> {
    let v = authz::vault_or_404(conn, name)?;
    authz::vault_admin(conn, caller, &v)?;
    Ok(v)
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let users = state.store.read(|c| {
        let v = authz::vault_or_404(c, &name)?;
        authz::vault_access(c, &caller, &v)?;
        let mut out = Vec::new();
        let mut stmt = c.prepare(
            "SELECT u.email, g.role FROM vault_grants g JOIN users u ON u.id = g.actor_id
             WHERE g.vault_id = ?1 AND g.actor_type = 'user' ORDER BY g.created_at, u.email",
        )?;
        for row in stmt.query_map([&v.id], |r| {
            Ok(
                json!({ "email": r.get::<_, String>(0)?, "role": r.get::<_, String>(1)?,
                       "status": "active" }),
            )
        })? {
            out.push(row?);
        }
        let mut stmt = c.prepare(
            "SELECT i.email, iv.vault_role FROM user_invite_vaults iv
             JOIN user_invites i ON i.id = iv.user_invite_id
             WHERE iv.vault_id = ?1 AND i.status = 'pending' AND i.expires_at > ?2
             ORDER BY i.created_at, i.id",
        )?;
        for row in stmt.query_map([&v.id, &time::now()], |r| {
            Ok(
                json!({ "email": r.get::<_, String>(0)?, "role": r.get::<_, String>(1)?,
                       "status": "pending" }),
            )
        })? {
            out.push(row?);
        }
        Ok::<_, ApiError>(out)
    })?;
    Ok(Json(json!({ "users": users })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AddReq {
    email: String,
    role: String,
}

async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (email, role) = state.store.write(|tx| {
        let v = admin_vault(tx, &caller, &name)?;
        let req: AddReq = body
            .json()
            .map_err(|_| ApiError::bad_request("Invalid request body"))?;
        let email = users::validate_email(&req.email)?;
        let role = user_role(req.role.trim())?;
        let uid = user_id(
            tx,
            &email,
            format!("User {email:?} not found in this instance"),
        )?;
        if authz::grant_role(tx, &uid, &v.id)?.is_some() {
            return Err(ApiError::conflict(format!(
                "User {email:?} already has access to vault {:?}",
                v.name
            )));
        }
        authz::upsert_grant(tx, (&uid, "user"), &v.id, role)?;
        Ok((email, role))
    })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "email": email, "role": role })),
    ))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, email)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let vault = state.store.write(|tx| {
        let v = admin_vault(tx, &caller, &name)?;
        let uid = user_id(tx, &email, format!("User {email:?} not found"))?;
        let role = authz::grant_role(tx, &uid, &v.id)?;
        if role == Some(VaultRole::Admin) && authz::count_vault_admins(tx, &v.id)? <= 1 {
            return Err(ApiError::conflict(
                "Cannot remove the last admin from this vault",
            ));
        }
        if role.is_none() {
            return Err(ApiError::not_found("User does not belong to this vault"));
        }
        tx.execute(
            "DELETE FROM vault_grants WHERE actor_id = ?1 AND vault_id = ?2",
            [&uid, &v.id],
        )?;
        Ok(v.name)
    })?;
    Ok(Json(json!({
        "message": format!("removed {email} from vault {vault}"),
    })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RoleReq {
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, email)): Path<(String, String)>,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let (vault, role) = state.store.write(|tx| {
        let v = admin_vault(tx, &caller, &name)?;
        let req: RoleReq = body
            .json()
            .map_err(|_| ApiError::bad_request("Invalid request body"))?;
        let role = match req.role.trim() {
            "" => Err(ApiError::bad_request("Role must be 'admin' or 'member'")),
            r => user_role(r),
        }?;
        let uid = user_id(tx, &email, format!("User {email:?} not found"))?;
        let current = authz::grant_role(tx, &uid, &v.id)?
            .ok_or_else(|| ApiError::not_found("User does not belong to this vault"))?;
        if current == VaultRole::Admin
            && role != VaultRole::Admin
            && authz::count_vault_admins(tx, &v.id)? <= 1
        {
            return Err(ApiError::conflict(
                "Cannot demote the last admin of this vault",
            ));
        }
        authz::upsert_grant(tx, (&uid, "user"), &v.id, role)?;
        Ok((v.name, role))
    })?;
    Ok(Json(json!({
        "email": email,
        "role": role,
        "message": format!("updated {email}'s role to {role} in vault {vault}"),
    })))
}

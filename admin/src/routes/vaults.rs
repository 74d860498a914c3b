//! Vaults (reference §4.10): create (the creator becomes admin), list (owners also see vaults
//! they have not joined, marked implicit), rename and delete (never `default`), context, owner
//! join and the owner's instance-wide list. Deleting a vault cascades to everything in it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use av_store::names::is_slug;
use av_store::roles::VaultRole;
use av_store::{new_id, time, DEFAULT_VAULT_NAME};

use crate::authz::{self, upsert_grant};
use crate::body::RawBody;
use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/vaults", post(create).get(list))
        .route("/v1/vaults/{name}", axum::routing::delete(delete_vault))
        .route("/v1/vaults/{name}/rename", post(rename))
        .route("/v1/vaults/{name}/join", post(join))
        .route("/v1/vaults/{name}/context", get(context))
        .route("/v1/admin/vaults", get(admin_list))
}

/// The create/rename name rules with their 400 messages.
fn check_name(name: &str) -> ApiResult<()> {
    if !is_slug(name) {
        return Err(ApiError::bad_request(
            "Vault name must be 3-64 characters, lowercase alphanumeric and hyphens only",
        ));
    }
    if name == "users" {
        return Err(ApiError::bad_request("This vault name is reserved"));
    }
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NameReq {
    name: String,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let actor = caller.actor()?;
    let req: NameReq = body
        .json()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    let name = req.name.trim();
    if name.is_empty() {
        return Err(ApiError::bad_request("Name is required"));
    }
    check_name(name)?;
    let (id, created) = state.store.write(|tx| {
        if authz::find_vault(tx, name)?.is_some() {
            return Err(ApiError::conflict(format!("Vault {name:?} already exists")));
        }
        let id = new_id();
        let now = time::now();
        tx.execute(
            "INSERT INTO vaults (id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
            rusqlite::params![id, name, now],
        )?;
        tx.execute(
            "INSERT INTO broker_configs (id, vault_id, services_json, created_at, updated_at)
             VALUES (?1, ?2, '[]', ?3, ?3)",
            rusqlite::params![new_id(), id, now],
        )?;
        upsert_grant(tx, (&actor.id, actor.actor_type), &id, VaultRole::Admin)?;
        Ok((id, now))
    })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "name": name, "created_at": time::rfc3339(&created) })),
    ))
}

async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let actor = caller.actor()?;
    let vaults = state.store.read(|c| {
        let sql = if actor.is_owner() {
            "SELECT v.id, v.name, g.role, v.created_at,
                    (SELECT COUNT(*) FROM proposals p WHERE p.vault_id = v.id AND p.status = 'pending')
             FROM vaults v LEFT JOIN vault_grants g ON g.vault_id = v.id AND g.actor_id = ?1
             ORDER BY v.name"
        } else {
            "SELECT v.id, v.name, g.role, v.created_at,
                    (SELECT COUNT(*) FROM proposals p WHERE p.vault_id = v.id AND p.status = 'pending')
             FROM vault_grants g JOIN vaults v ON v.id = g.vault_id
             WHERE g.actor_id = ?1 ORDER BY g.created_at, g.rowid"
        };
        let mut stmt = c.prepare(sql)?;
        let rows = stmt.query_map([&actor.id], |r| {
            let role: Option<String> = r.get(2)?;
            let mut item = json!({
                "id": r.get::<_, String>(0)?,
                "name": r.get::<_, String>(1)?,
                "membership": if role.is_some() { "explicit" } else { "implicit" },
                "created_at": time::rfc3339(&r.get::<_, String>(3)?),
                "pending_proposals": r.get::<_, i64>(4)?,
            });
            if let Some(role) = role {
                item["role"] = json!(role);
            }
            Ok(item)
        })?;
        rows.collect::<rusqlite::Result<Vec<Value>>>()
            .map_err(ApiError::from)
    })?;
    Ok(Json(json!({ "vaults": vaults })))
}

async fn admin_list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.owner()?;
    let vaults = state.store.read(|c| {
        let mut stmt = c.prepare("SELECT id, name, created_at FROM vaults ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            let name: String = r.get(1)?;
            Ok(json!({
                "id": r.get::<_, String>(0)?,
                "is_default": name == DEFAULT_VAULT_NAME,
                "name": name,
                "created_at": time::rfc3339(&r.get::<_, String>(2)?),
            }))
        })?;
        rows.collect::<rusqlite::Result<Vec<Value>>>()
            .map_err(ApiError::from)
    })?;
    Ok(Json(json!({ "vaults": vaults })))
}

async fn delete_vault(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    if name == DEFAULT_VAULT_NAME {
        return Err(ApiError::bad_request("Cannot delete the default vault"));
    }
    state.store.write(|tx| {
        let v = authz::vault_or_404(tx, &name)?;
        authz::vault_admin_or_owner(tx, &caller, &v)?;
        // Grants, sessions, credentials, services, proposals and invite pre-assignments
        // cascade with the vault row.
        tx.execute("DELETE FROM vault_grants WHERE vault_id = ?1", [&v.id])?;
        tx.execute("DELETE FROM vaults WHERE id = ?1", [&v.id])?;
        Ok::<_, ApiError>(())
    })?;
    Ok(Json(json!({ "name": name, "deleted": true })))
}

async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    if name == DEFAULT_VAULT_NAME {
        return Err(ApiError::bad_request("Cannot rename the default vault"));
    }
    let new_name = state.store.write(|tx| {
        let v = authz::vault_or_404(tx, &name)?;
        authz::vault_admin_or_owner(tx, &caller, &v)?;
        let req: NameReq = body.json().unwrap_or_default();
        let new_name = req.name.trim().to_string();
        if new_name.is_empty() {
            return Err(ApiError::bad_request(
                "Request body must include {\"name\": \"new-name\"}",
            ));
        }
        check_name(&new_name)?;
        if authz::find_vault(tx, &new_name)?.is_some() {
            return Err(ApiError::conflict(format!(
                "A vault named {new_name:?} already exists"
            )));
        }
        tx.execute(
            "UPDATE vaults SET name = ?2, updated_at = ?3 WHERE id = ?1",
            rusqlite::params![v.id, new_name, time::now()],
        )?;
        Ok(new_name)
    })?;
    Ok(Json(json!({
        "message": format!("vault renamed from {name:?} to {new_name:?}"),
        "old_name": name,
        "new_name": new_name,
    })))
}

async fn join(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let actor = caller.owner()?;
    state.store.write(|tx| {
        let v = authz::vault_or_404(tx, &name)?;
        if authz::grant_role(tx, &actor.id, &v.id)?.is_some() {
            return Err(ApiError::conflict("Already a member of this vault"));
        }
        upsert_grant(tx, (&actor.id, actor.actor_type), &v.id, VaultRole::Admin)?;
        Ok(())
    })?;
    Ok(Json(
        json!({ "vault": name, "role": "admin", "joined": true }),
    ))
}

async fn context(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let actor = caller.actor()?;
    let role = state.store.read(|c| {
        let v =
            authz::find_vault(c, &name)?.ok_or_else(|| ApiError::not_found("Vault not found"))?;
        authz::grant_role(c, &actor.id, &v.id)?
            .ok_or_else(|| ApiError::forbidden("No vault access"))
    })?;
    Ok(Json(json!({ "vault_name": name, "vault_role": role })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(is_slug("abc"));
        assert!(is_slug("-a-"));
        assert!(is_slug(&"a".repeat(64)));
        assert!(!is_slug("ab"));
        assert!(!is_slug(&"a".repeat(65)));
        assert!(!is_slug("Abc"));
        assert!(!is_slug("a_b"));
        assert!(!is_slug("ünï"));
    }
}

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
    use crate::testkit::{call, state, user};

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

    #[tokio::test]
    async fn vault_lifecycle_and_role_boundaries() {
        let (st, _d) = state();
        let owner = user(&st, "owner@x.io").await;
        let alice = user(&st, "alice@x.io").await;
        let bob = user(&st, "bob@x.io").await;
        let err = |b: &Value| b["error"].as_str().unwrap_or("").to_string();

        for (name, msg) in [
            ("", "Name is required"),
            (
                "ab",
                "Vault name must be 3-64 characters, lowercase alphanumeric and hyphens only",
            ),
            (
                "Team",
                "Vault name must be 3-64 characters, lowercase alphanumeric and hyphens only",
            ),
            ("users", "This vault name is reserved"),
        ] {
            let (s, _, b) = call(
                &st,
                "POST",
                "/v1/vaults",
                Some(&alice),
                Some(json!({ "name": name })),
            )
            .await
            .code_cookie_json();
            assert_eq!((s, err(&b)), (400, msg.to_string()), "{name}");
        }
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults",
            Some(&alice),
            Some(json!({ "name": "team" })),
        )
        .await
        .code_cookie_json();
        assert_eq!(s, 201, "{b}");
        assert!(b["created_at"].as_str().unwrap().ends_with('Z'));
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults",
            Some(&bob),
            Some(json!({ "name": "team" })),
        )
        .await
        .code_cookie_json();
        assert_eq!((s, err(&b)), (409, "Vault \"team\" already exists".into()));

        // Alice sees her vault as admin; Bob sees nothing; the owner sees all, implicitly.
        let (_, _, b) = call(&st, "GET", "/v1/vaults", Some(&alice), None)
            .await
            .code_cookie_json();
        assert_eq!(b["vaults"].as_array().unwrap().len(), 1);
        assert_eq!(
            (
                b["vaults"][0]["role"].as_str(),
                b["vaults"][0]["membership"].as_str()
            ),
            (Some("admin"), Some("explicit"))
        );
        assert_eq!(b["vaults"][0]["pending_proposals"], 0);
        let (_, _, b) = call(&st, "GET", "/v1/vaults", Some(&bob), None)
            .await
            .code_cookie_json();
        assert_eq!(b, json!({ "vaults": [] }));
        let (_, _, b) = call(&st, "GET", "/v1/vaults", Some(&owner), None)
            .await
            .code_cookie_json();
        let names: Vec<_> = b["vaults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap(),
                    v["membership"].as_str().unwrap(),
                    v.get("role").is_some(),
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![("default", "explicit", true), ("team", "implicit", false)]
        );

        // Context.
        let (s, _, b) = call(&st, "GET", "/v1/vaults/nope/context", Some(&alice), None)
            .await
            .code_cookie_json();
        assert_eq!((s, err(&b)), (404, "Vault not found".into()));
        let (s, _, b) = call(&st, "GET", "/v1/vaults/team/context", Some(&bob), None)
            .await
            .code_cookie_json();
        assert_eq!((s, err(&b)), (403, "No vault access".into()));
        let (s, _, b) = call(&st, "GET", "/v1/vaults/team/context", Some(&alice), None)
            .await
            .code_cookie_json();
        assert_eq!(
            (s, b),
            (200, json!({ "vault_name": "team", "vault_role": "admin" }))
        );

        // Owner-only routes.
        let (s, _, b) = call(&st, "GET", "/v1/admin/vaults", Some(&alice), None)
            .await
            .code_cookie_json();
        assert_eq!((s, err(&b)), (403, "Owner role required".into()));
        let (s, _, b) = call(&st, "GET", "/v1/admin/vaults", Some(&owner), None)
            .await
            .code_cookie_json();
        assert_eq!(s, 200);
        assert_eq!(b["vaults"][0]["is_default"], true);
        let (s, _, b) = call(&st, "POST", "/v1/vaults/team/join", Some(&alice), None)
            .await
            .code_cookie_json();
        assert_eq!((s, err(&b)), (403, "Owner role required".into()));

        // Rename and delete: never default; admin or owner only.
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults/default/rename",
            Some(&owner),
            Some(json!({ "name": "x-y-z" })),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (400, "Cannot rename the default vault".into())
        );
        let (s, _, b) = call(&st, "DELETE", "/v1/vaults/default", Some(&owner), None)
            .await
            .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (400, "Cannot delete the default vault".into())
        );
        let (s, _, b) = call(&st, "DELETE", "/v1/vaults/team", Some(&bob), None)
            .await
            .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (403, "Vault admin or instance owner required".into())
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults/team/rename",
            Some(&bob),
            Some(json!({ "name": "crew" })),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (403, "Vault admin or instance owner required".into())
        );
        let (s, _, b) = call(&st, "POST", "/v1/vaults/team/rename", Some(&alice), None)
            .await
            .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (
                400,
                "Request body must include {\"name\": \"new-name\"}".into()
            )
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults/team/rename",
            Some(&alice),
            Some(json!({ "name": "default" })),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (409, "A vault named \"default\" already exists".into())
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults/team/rename",
            Some(&alice),
            Some(json!({ "name": "crew" })),
        )
        .await
        .code_cookie_json();
        assert_eq!(s, 200);
        assert_eq!(b["message"], "vault renamed from \"team\" to \"crew\"");
        let (s, _, b) = call(&st, "DELETE", "/v1/vaults/nope", Some(&owner), None)
            .await
            .code_cookie_json();
        assert_eq!((s, err(&b)), (404, "Vault \"nope\" not found".into()));

        // The owner joins, then deletes without being asked twice.
        let (s, _, b) = call(&st, "POST", "/v1/vaults/crew/join", Some(&owner), None)
            .await
            .code_cookie_json();
        assert_eq!(
            (s, b),
            (
                200,
                json!({ "vault": "crew", "role": "admin", "joined": true })
            )
        );
        let (s, _, b) = call(&st, "POST", "/v1/vaults/crew/join", Some(&owner), None)
            .await
            .code_cookie_json();
        assert_eq!((s, err(&b)), (409, "Already a member of this vault".into()));
        let (s, _, b) = call(&st, "DELETE", "/v1/vaults/crew", Some(&owner), None)
            .await
            .code_cookie_json();
        assert_eq!((s, b), (200, json!({ "name": "crew", "deleted": true })));
        let (_, _, b) = call(&st, "GET", "/v1/vaults", Some(&alice), None)
            .await
            .code_cookie_json();
        assert_eq!(b, json!({ "vaults": [] }));
    }

    #[tokio::test]
    async fn vault_users_and_scoped_sessions() {
        let (st, _d) = state();
        let _owner = user(&st, "owner@x.io").await;
        let alice = user(&st, "alice@x.io").await;
        let bob = user(&st, "bob@x.io").await;
        let carol = user(&st, "carol@x.io").await;
        let err = |b: &Value| b["error"].as_str().unwrap_or("").to_string();
        call(
            &st,
            "POST",
            "/v1/vaults",
            Some(&alice),
            Some(json!({ "name": "team" })),
        )
        .await
        .code_cookie_json();

        let add = |e: &str, r: &str| json!({ "email": e, "role": r });
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults/team/users",
            Some(&bob),
            Some(add("carol@x.io", "member")),
        )
        .await
        .code_cookie_json();
        assert_eq!((s, err(&b)), (403, "No access to this vault".into()));
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults/team/users",
            Some(&alice),
            Some(add("bob@x.io", "owner")),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (400, "Role must be 'admin' or 'member'".into())
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults/team/users",
            Some(&alice),
            Some(add("zed@x.io", "")),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (404, "User \"zed@x.io\" not found in this instance".into())
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults/team/users",
            Some(&alice),
            Some(add("bob@x.io", "")),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, b),
            (201, json!({ "email": "bob@x.io", "role": "member" }))
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults/team/users",
            Some(&alice),
            Some(add("bob@x.io", "admin")),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (
                409,
                "User \"bob@x.io\" already has access to vault \"team\"".into()
            )
        );
        // A member may look but not manage.
        let (s, _, b) = call(&st, "GET", "/v1/vaults/team/users", Some(&bob), None)
            .await
            .code_cookie_json();
        assert_eq!(s, 200);
        assert_eq!(b["users"].as_array().unwrap().len(), 2);
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults/team/users",
            Some(&bob),
            Some(add("carol@x.io", "member")),
        )
        .await
        .code_cookie_json();
        assert_eq!((s, err(&b)), (403, "Vault admin role required".into()));
        let (s, _, b) = call(&st, "GET", "/v1/vaults/team/users", Some(&carol), None)
            .await
            .code_cookie_json();
        assert_eq!((s, err(&b)), (403, "No access to this vault".into()));

        // Last-admin protection.
        let (s, _, b) = call(
            &st,
            "DELETE",
            "/v1/vaults/team/users/alice@x.io",
            Some(&alice),
            None,
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (409, "Cannot remove the last admin from this vault".into())
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults/team/users/alice@x.io/role",
            Some(&alice),
            Some(json!({ "role": "member" })),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (409, "Cannot demote the last admin of this vault".into())
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults/team/users/carol@x.io/role",
            Some(&alice),
            Some(json!({ "role": "admin" })),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (404, "User does not belong to this vault".into())
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults/team/users/bob@x.io/role",
            Some(&alice),
            Some(json!({ "role": "admin" })),
        )
        .await
        .code_cookie_json();
        assert_eq!(s, 200);
        assert_eq!(
            b["message"],
            "updated bob@x.io's role to admin in vault team"
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/vaults/team/users/alice@x.io/role",
            Some(&bob),
            Some(json!({ "role": "member" })),
        )
        .await
        .code_cookie_json();
        assert_eq!((s, b["role"].as_str()), (200, Some("member")));
        let (s, _, b) = call(
            &st,
            "DELETE",
            "/v1/vaults/team/users/nobody@x.io",
            Some(&bob),
            None,
        )
        .await
        .code_cookie_json();
        assert_eq!((s, err(&b)), (404, "User \"nobody@x.io\" not found".into()));
        let (s, _, b) = call(
            &st,
            "DELETE",
            "/v1/vaults/team/users/alice@x.io",
            Some(&bob),
            None,
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, b),
            (
                200,
                json!({ "message": "removed alice@x.io from vault team" })
            )
        );

        // Scoped sessions see their own vault only, and nothing instance-wide (fix 9).
        let team = st
            .store
            .read(|c| authz::find_vault(c, "team").map_err(av_store::Error::from))
            .unwrap()
            .unwrap();
        let (scoped, _) = st
            .store
            .read(|c| {
                crate::caller::create_session(
                    c,
                    None,
                    None,
                    Some((&team.id, VaultRole::Member)),
                    Some(600),
                )
                .map_err(av_store::Error::from)
            })
            .unwrap();
        let (s, _, b) = call(&st, "GET", "/v1/vaults/team/users", Some(&scoped), None)
            .await
            .code_cookie_json();
        assert_eq!((s, b["users"].as_array().map(Vec::len)), (200, Some(1)));
        let (s, _, b) = call(&st, "GET", "/v1/vaults/default/users", Some(&scoped), None)
            .await
            .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (403, "Session not authorized for this vault".into())
        );
        for path in ["/v1/vaults", "/v1/users"] {
            let (s, _, b) = call(&st, "GET", path, Some(&scoped), None)
                .await
                .code_cookie_json();
            assert_eq!(
                (s, err(&b)),
                (403, "Authentication required".into()),
                "{path}"
            );
        }
        let (s, _, b) = call(&st, "GET", "/v1/auth/me", Some(&scoped), None)
            .await
            .code_cookie_json();
        assert_eq!((s, err(&b)), (401, "Not authenticated".into()));
    }
}

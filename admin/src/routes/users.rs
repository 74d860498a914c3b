//! Users of the instance (reference §4.20): everyone may list them (owners also see their
//! vaults); owners view, remove and re-role any user. The last owner (users and agents
//! together) can be neither removed nor demoted.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{json, Value};

use av_store::roles::InstanceRole;
use av_store::time;

use crate::authz;
use crate::body::RawBody;
use crate::caller::{Caller, CallerKind};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::users::{self, UserRow};

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/users", get(list))
        .route("/v1/admin/users/{email}", get(info).delete(remove))
        .route("/v1/admin/users/{email}/role", post(set_role))
}

/// `me` resolves to the caller's own email (user sessions only).
fn resolve_me(caller: &Caller, email: String) -> ApiResult<String> {
    if email != "me" {
        return Ok(email);
    }
    match &caller.kind {
        CallerKind::User { email, .. } => Ok(email.clone()),
        _ => Err(ApiError::bad_request(
            "\"me\" shorthand requires a user session",
        )),
    }
}

fn user_or_404(conn: &Connection, email: &str) -> ApiResult<UserRow> {
    users::find_user(conn, email)?
        .ok_or_else(|| ApiError::not_found(format!("User {email:?} not found")))
}

/// A user's grants as `(vault name, role)`, ordered by vault name.
fn grants(conn: &Connection, user_id: &str) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT v.name, g.role FROM vault_grants g JOIN vaults v ON v.id = g.vault_id
         WHERE g.actor_id = ?1 ORDER BY v.name",
    )?;
    let rows = stmt.query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let owner = caller.actor()?.is_owner();
    let users = state.store.read(|c| {
        let mut stmt = c.prepare("SELECT id, email, role, created_at FROM users ORDER BY email")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, email, role, created) in rows {
            let mut item = json!({ "email": email, "role": role });
            if owner {
                let vaults: Vec<Value> = grants(c, &id)?
                    .into_iter()
                    .map(|(n, r)| json!({ "vault_name": n, "vault_role": r }))
                    .collect();
                item["vaults"] = json!(vaults);
            }
            item["created_at"] = json!(time::rfc3339(&created));
            out.push(item);
        }
        Ok::<_, ApiError>(out)
    })?;
    Ok(Json(json!({ "users": users })))
}

async fn info(
    State(state): State<AppState>,
    caller: Caller,
    Path(email): Path<String>,
) -> ApiResult<Json<Value>> {
    let actor = caller.actor()?;
    let email = resolve_me(&caller, email)?;
    let is_self = actor.actor_type == "user" && actor.label == email;
    if !actor.is_owner() && !is_self {
        return Err(ApiError::forbidden(
            "Owner role required to view other users",
        ));
    }
    let body = state.store.read(|c| {
        let u = user_or_404(c, &email)?;
        let vaults: Vec<String> = grants(c, &u.id)?.into_iter().map(|(n, _)| n).collect();
        Ok::<_, ApiError>(json!({
            "email": u.email,
            "role": u.role,
            "vaults": vaults,
            "created_at": time::rfc3339(&u.created_at),
        }))
    })?;
    Ok(Json(body))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(email): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.owner()?;
    let email = resolve_me(&caller, email)?;
    state.store.write(|tx| {
        let u = user_or_404(tx, &email)?;
        if u.role == InstanceRole::Owner && u.active && authz::count_owners(tx)? <= 1 {
            return Err(ApiError::conflict("Cannot remove the last owner"));
        }
        users::delete_user(tx, &u.id)?;
        Ok(())
    })?;
    Ok(Json(json!({ "status": "removed", "email": email })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RoleReq {
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(email): Path<String>,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    caller.owner()?;
    let email = resolve_me(&caller, email)?;
    let req: RoleReq = body
        .json()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    let role: InstanceRole = req
        .role
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request("Role must be 'owner' or 'member'"))?;
    state.store.write(|tx| {
        let u = user_or_404(tx, &email)?;
        if u.role == InstanceRole::Owner
            && role == InstanceRole::Member
            && u.active
            && authz::count_owners(tx)? <= 1
        {
            return Err(ApiError::conflict("Cannot demote the last owner"));
        }
        tx.execute(
            "UPDATE users SET role = ?2, updated_at = ?3 WHERE id = ?1",
            rusqlite::params![u.id, role.as_str(), time::now()],
        )?;
        Ok::<_, ApiError>(())
    })?;
    Ok(Json(json!({ "email": email, "role": role })))
}

#[cfg(test)]
mod tests {
    use crate::testkit::{call, state, user};
    use serde_json::{json, Value};

    #[tokio::test]
    async fn users_and_last_owner() {
        let (st, _d) = state();
        let owner = user(&st, "owner@x.io").await;
        let alice = user(&st, "alice@x.io").await;
        let err = |b: &Value| b["error"].as_str().unwrap_or("").to_string();

        let (_, _, b) = call(&st, "GET", "/v1/users", Some(&alice), None)
            .await
            .code_cookie_json();
        assert_eq!(b["users"][0].get("vaults"), None);
        assert_eq!(b["users"].as_array().unwrap().len(), 2);
        let (_, _, b) = call(&st, "GET", "/v1/users", Some(&owner), None)
            .await
            .code_cookie_json();
        assert_eq!(b["users"][1]["email"], "owner@x.io");
        assert_eq!(
            b["users"][1]["vaults"],
            json!([{ "vault_name": "default", "vault_role": "admin" }])
        );

        let (s, _, b) = call(&st, "GET", "/v1/admin/users/me", Some(&alice), None)
            .await
            .code_cookie_json();
        assert_eq!(
            (s, b["email"].as_str(), b["vaults"].clone()),
            (200, Some("alice@x.io"), json!([]))
        );
        let (s, _, b) = call(&st, "GET", "/v1/admin/users/owner@x.io", Some(&alice), None)
            .await
            .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (403, "Owner role required to view other users".into())
        );
        let (s, _, b) = call(&st, "GET", "/v1/admin/users/alice@x.io", Some(&owner), None)
            .await
            .code_cookie_json();
        assert_eq!((s, b["role"].as_str()), (200, Some("member")));
        let (s, _, b) = call(&st, "GET", "/v1/admin/users/zed@x.io", Some(&owner), None)
            .await
            .code_cookie_json();
        assert_eq!((s, err(&b)), (404, "User \"zed@x.io\" not found".into()));

        let (s, _, b) = call(
            &st,
            "DELETE",
            "/v1/admin/users/owner@x.io",
            Some(&alice),
            None,
        )
        .await
        .code_cookie_json();
        assert_eq!((s, err(&b)), (403, "Owner role required".into()));
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/admin/users/alice@x.io/role",
            Some(&alice),
            Some(json!({"role":"owner"})),
        )
        .await
        .code_cookie_json();
        assert_eq!((s, err(&b)), (403, "Owner role required".into()));
        let (s, _, b) = call(&st, "DELETE", "/v1/admin/users/me", Some(&owner), None)
            .await
            .code_cookie_json();
        assert_eq!((s, err(&b)), (409, "Cannot remove the last owner".into()));
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/admin/users/owner@x.io/role",
            Some(&owner),
            Some(json!({"role":"member"})),
        )
        .await
        .code_cookie_json();
        assert_eq!((s, err(&b)), (409, "Cannot demote the last owner".into()));
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/admin/users/alice@x.io/role",
            Some(&owner),
            Some(json!({"role":"boss"})),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (400, "Role must be 'owner' or 'member'".into())
        );
        let (s, _, b) = call(&st, "DELETE", "/v1/auth/account", Some(&owner), None)
            .await
            .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (
                409,
                "Owners cannot delete their own account; transfer ownership first".into()
            )
        );

        // Promotion takes effect on the next request; then the first owner may step down.
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/admin/users/alice@x.io/role",
            Some(&owner),
            Some(json!({"role":"owner"})),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, b),
            (200, json!({ "email": "alice@x.io", "role": "owner" }))
        );
        let (s, _, _) = call(&st, "GET", "/v1/admin/vaults", Some(&alice), None)
            .await
            .code_cookie_json();
        assert_eq!(s, 200);
        let (s, _, _) = call(
            &st,
            "POST",
            "/v1/admin/users/owner@x.io/role",
            Some(&alice),
            Some(json!({"role":"member"})),
        )
        .await
        .code_cookie_json();
        assert_eq!(s, 200);
        let (s, _, b) = call(
            &st,
            "DELETE",
            "/v1/admin/users/owner@x.io",
            Some(&alice),
            None,
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, b),
            (200, json!({ "status": "removed", "email": "owner@x.io" }))
        );
        let (s, _, _) = call(&st, "GET", "/v1/auth/me", Some(&owner), None)
            .await
            .code_cookie_json();
        assert_eq!(s, 401);
    }

    #[tokio::test]
    async fn owner_agents_count_for_last_owner() {
        let (st, _d) = state();
        let owner = user(&st, "owner@x.io").await;
        st.store
            .read(|c| {
                c.execute(
                    "INSERT INTO agents (id, name, status, role, created_by, created_at, updated_at)
                     VALUES ('a1', 'bot', 'active', 'owner', 'x', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                    [],
                )
                .map_err(av_store::Error::from)
            })
            .unwrap();
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/admin/users/me/role",
            Some(&owner),
            Some(json!({"role":"member"})),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, b),
            (200, json!({ "email": "owner@x.io", "role": "member" }))
        );
        let (s, _, b) = call(&st, "GET", "/v1/admin/users/owner@x.io", Some(&owner), None)
            .await
            .code_cookie_json();
        assert_eq!((s, b["role"].as_str()), (200, Some("member")));
    }
}

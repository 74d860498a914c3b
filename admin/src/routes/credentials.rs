//! Credentials (reference §4.12): list keys, reveal values, upsert and delete.
//!
//! Values are sealed with the master key (AES-256-GCM, fresh nonce per write) the moment they
//! arrive and opened only to answer a reveal, which needs vault role `member` or above: a
//! `proxy` caller sees key names, never values. Nothing here logs a value.
//!
//! The vault is named by the `vault` query/body field; without it a scoped session uses its
//! own vault, an agent token may name one with `X-Vault` (DESIGN §6 fix 6), and everyone else
//! gets `default`.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};

use av_store::names::{invalid_credential_key_message, is_credential_key, quote};
use av_store::{new_id, time, DEFAULT_VAULT_NAME};

use crate::authz::{self, Vault};
use crate::body::RawBody;
use crate::caller::{Caller, CallerKind};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `GET/POST/DELETE /v1/credentials`.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/credentials",
        get(list).post(upsert).delete(delete_keys),
    )
}

/// The names of a vault's credentials, sorted (never their values).
pub fn credential_keys(conn: &Connection, vault_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT key FROM credentials WHERE vault_id = ?1 ORDER BY key")?;
    let keys = stmt.query_map([vault_id], |r| r.get::<_, String>(0))?;
    keys.collect()
}

/// The first value of a query parameter (Go's `Query().Get`).
pub(crate) fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The vault a credentials request targets (see the module docs). Access is checked by the
/// caller of this function.
fn target_vault(
    conn: &Connection,
    caller: &Caller,
    headers: &HeaderMap,
    named: Option<&str>,
) -> ApiResult<Vault> {
    if let Some(name) = named.filter(|n| !n.is_empty()) {
        return authz::vault_or_404(conn, name);
    }
    match &caller.kind {
        CallerKind::Scoped { .. } => Ok(authz::agent_vault(conn, caller, headers)?.0),
        CallerKind::Agent { .. } if headers.contains_key("x-vault") => {
            Ok(authz::agent_vault(conn, caller, headers)?.0)
        }
        _ => authz::vault_or_404(conn, DEFAULT_VAULT_NAME),
    }
}

fn invalid_key(key: &str) -> ApiError {
    ApiError::bad_request(invalid_credential_key_message(key))
}

fn decrypt_failed() -> ApiError {
    ApiError::Plain(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Failed to decrypt credential".into(),
    )
}

/// `GET /v1/credentials?vault=&reveal=true&key=K`.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let conn = state.store.conn()?;
    let vault = target_vault(&conn, &caller, &headers, param(&query, "vault"))?;
    if param(&query, "reveal") != Some("true") {
        authz::vault_access(&conn, &caller, &vault)?;
        let keys = credential_keys(&conn, &vault.id)?;
        return Ok(Json(json!({ "keys": keys })));
    }
    authz::vault_member(&conn, &caller, &vault)?;
    let rows: Vec<(String, Vec<u8>, Vec<u8>)> = match param(&query, "key").filter(|k| !k.is_empty())
    {
        Some(key) => {
            let row = conn
                .query_row(
                    "SELECT key, ciphertext, nonce FROM credentials WHERE vault_id = ?1 AND key = ?2",
                    params![vault.id, key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?
                .ok_or_else(|| ApiError::not_found(format!("Credential {} not found", quote(key))))?;
            vec![row]
        }
        None => {
            let mut stmt = conn.prepare_cached(
                "SELECT key, ciphertext, nonce FROM credentials WHERE vault_id = ?1 ORDER BY key",
            )?;
            let rows = stmt
                .query_map([&vault.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows
        }
    };
    if rows.is_empty() {
        return Ok(Json(json!({ "keys": [] })));
    }
    let mut keys = Vec::with_capacity(rows.len());
    let mut credentials = Vec::with_capacity(rows.len());
    for (key, ciphertext, nonce) in rows {
        let value = state
            .key
            .open_string(&ciphertext, &nonce)
            .map_err(|_| decrypt_failed())?;
        credentials.push(json!({ "key": key, "value": value.as_str() }));
        keys.push(key);
    }
    Ok(Json(json!({ "keys": keys, "credentials": credentials })))
}

#[derive(Deserialize)]
struct SetRequest {
    #[serde(default)]
    vault: String,
    #[serde(default)]
    credentials: Option<BTreeMap<String, Option<String>>>,
}

/// `POST /v1/credentials` `{"vault","credentials":{"KEY":"value"}}`: upserts every pair in
/// one transaction (a credential keeps its id when its value changes).
async fn upsert(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: SetRequest = body
        .json()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    let creds = req.credentials.unwrap_or_default();
    if creds.is_empty() {
        return Err(ApiError::bad_request("Credentials map is required"));
    }
    let vault = {
        let conn = state.store.conn()?;
        let vault = target_vault(&conn, &caller, &headers, Some(&req.vault))?;
        authz::vault_member(&conn, &caller, &vault)?;
        vault
    };
    if let Some(bad) = creds.keys().find(|k| !is_credential_key(k)) {
        return Err(invalid_key(bad));
    }
    let mut sealed = Vec::with_capacity(creds.len());
    for (key, value) in &creds {
        let s = state
            .key
            .seal(value.as_deref().unwrap_or("").as_bytes())
            .map_err(ApiError::internal)?;
        sealed.push((key.as_str(), s));
    }
    let now = time::now();
    state.store.write(|tx| {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO credentials (id, vault_id, key, ciphertext, nonce, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (vault_id, key) DO UPDATE SET
                 ciphertext = excluded.ciphertext,
                 nonce = excluded.nonce,
                 updated_at = excluded.updated_at",
        )?;
        for (key, s) in &sealed {
            stmt.execute(params![new_id(), vault.id, key, s.ciphertext, s.nonce, now])?;
        }
        Ok::<_, ApiError>(())
    })?;
    let set: Vec<&str> = sealed.iter().map(|(k, _)| *k).collect();
    Ok(Json(json!({ "set": set })))
}

#[derive(Deserialize)]
struct DeleteRequest {
    #[serde(default)]
    vault: String,
    #[serde(default)]
    keys: Option<Vec<String>>,
}

/// `DELETE /v1/credentials` `{"vault","keys":[...]}`. Every key must exist, or nothing is
/// deleted (`404 Credential "K" not found`).
async fn delete_keys(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: DeleteRequest = body
        .json()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    let mut keys = req.keys.unwrap_or_default();
    if keys.is_empty() {
        return Err(ApiError::bad_request("Keys list is required"));
    }
    let vault = {
        let conn = state.store.conn()?;
        let vault = target_vault(&conn, &caller, &headers, Some(&req.vault))?;
        authz::vault_member(&conn, &caller, &vault)?;
        vault
    };
    if let Some(bad) = keys.iter().find(|k| !is_credential_key(k)) {
        return Err(invalid_key(bad));
    }
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    state.store.write(|tx| {
        for key in &keys {
            let n = tx.execute(
                "DELETE FROM credentials WHERE vault_id = ?1 AND key = ?2",
                params![vault.id, key],
            )?;
            if n == 0 {
                // Dropping the transaction rolls back the keys deleted before this one.
                return Err(ApiError::not_found(format!(
                    "Credential {} not found",
                    quote(key)
                )));
            }
        }
        Ok(())
    })?;
    Ok(Json(json!({ "deleted": keys })))
}

#[cfg(test)]
mod tests {
    use crate::testkit::{call, Kit};
    use av_store::roles::VaultRole;
    use axum::http::StatusCode;
    use serde_json::json;

    #[tokio::test]
    async fn set_list_reveal_delete() {
        let k = Kit::new();
        let t = k.owner.as_str();
        let (s, b) = call(
            &k.state,
            "POST",
            "/v1/credentials",
            Some(t),
            r#"{"credentials":{"B_KEY":"b","A_KEY":"sentinel-1"}}"#,
        )
        .await
        .status_json();
        assert_eq!((s, b), (StatusCode::OK, json!({"set":["A_KEY","B_KEY"]})));
        let id: String = k
            .state
            .store
            .conn()
            .unwrap()
            .query_row("SELECT id FROM credentials WHERE key = 'A_KEY'", [], |r| {
                r.get(0)
            })
            .unwrap();
        call(
            &k.state,
            "POST",
            "/v1/credentials",
            Some(t),
            r#"{"vault":"default","credentials":{"A_KEY":"a2"}}"#,
        )
        .await;
        let id2: String = k
            .state
            .store
            .conn()
            .unwrap()
            .query_row("SELECT id FROM credentials WHERE key = 'A_KEY'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(id, id2, "upsert keeps the id");

        let (s, b) = call(&k.state, "GET", "/v1/credentials", Some(t), None)
            .await
            .status_json();
        assert_eq!((s, b), (StatusCode::OK, json!({"keys":["A_KEY","B_KEY"]})));
        let (_, b) = call(
            &k.state,
            "GET",
            "/v1/credentials?reveal=true&key=A_KEY",
            Some(t),
            None,
        )
        .await
        .status_json();
        assert_eq!(
            b,
            json!({"keys":["A_KEY"],"credentials":[{"key":"A_KEY","value":"a2"}]})
        );
        let (s, b) = call(
            &k.state,
            "GET",
            "/v1/credentials?reveal=true&key=NOPE",
            Some(t),
            None,
        )
        .await
        .status_json();
        assert_eq!(
            (s, b),
            (
                StatusCode::NOT_FOUND,
                json!({"error":"Credential \"NOPE\" not found"})
            )
        );

        // A missing key deletes nothing.
        let (s, b) = call(
            &k.state,
            "DELETE",
            "/v1/credentials",
            Some(t),
            r#"{"keys":["A_KEY","NOPE"]}"#,
        )
        .await
        .status_json();
        assert_eq!(
            (s, b),
            (
                StatusCode::NOT_FOUND,
                json!({"error":"Credential \"NOPE\" not found"})
            )
        );
        let (s, b) = call(
            &k.state,
            "DELETE",
            "/v1/credentials",
            Some(t),
            r#"{"keys":["A_KEY","B_KEY"]}"#,
        )
        .await
        .status_json();
        assert_eq!(
            (s, b),
            (StatusCode::OK, json!({"deleted":["A_KEY","B_KEY"]}))
        );
        let (_, b) = call(
            &k.state,
            "GET",
            "/v1/credentials?reveal=true",
            Some(t),
            None,
        )
        .await
        .status_json();
        assert_eq!(b, json!({"keys":[]}));
    }

    #[tokio::test]
    async fn input_errors() {
        let k = Kit::new();
        let t = k.owner.as_str();
        let cases = [
            ("POST", "{", StatusCode::BAD_REQUEST, "Invalid request body"),
            (
                "POST",
                "{}",
                StatusCode::BAD_REQUEST,
                "Credentials map is required",
            ),
            (
                "POST",
                r#"{"credentials":{"bad":"x"}}"#,
                StatusCode::BAD_REQUEST,
                "Invalid credential key \"bad\": must be SCREAMING_SNAKE_CASE (e.g. STRIPE_KEY)",
            ),
            (
                "POST",
                r#"{"vault":"nope","credentials":{"A":"x"}}"#,
                StatusCode::NOT_FOUND,
                "Vault \"nope\" not found",
            ),
            (
                "DELETE",
                "\"x\"",
                StatusCode::BAD_REQUEST,
                "Invalid request body",
            ),
            (
                "DELETE",
                r#"{"keys":[]}"#,
                StatusCode::BAD_REQUEST,
                "Keys list is required",
            ),
            (
                "DELETE",
                r#"{"keys":["1A"]}"#,
                StatusCode::BAD_REQUEST,
                "Invalid credential key \"1A\": must be SCREAMING_SNAKE_CASE (e.g. STRIPE_KEY)",
            ),
        ];
        for (method, body, status, msg) in cases {
            let (s, b) = call(&k.state, method, "/v1/credentials", Some(t), body)
                .await
                .status_json();
            assert_eq!((s, b), (status, json!({ "error": msg })), "{method} {body}");
        }
        let (s, b) = call(&k.state, "GET", "/v1/credentials?vault=nope", Some(t), None)
            .await
            .status_json();
        assert_eq!(
            (s, b),
            (
                StatusCode::NOT_FOUND,
                json!({"error":"Vault \"nope\" not found"})
            )
        );
    }

    #[tokio::test]
    async fn proxy_role_lists_keys_but_never_values() {
        let k = Kit::new();
        call(
            &k.state,
            "POST",
            "/v1/credentials",
            Some(&k.owner),
            r#"{"credentials":{"SECRET":"v"}}"#,
        )
        .await;
        let proxy = k.scoped(VaultRole::Proxy);
        let (s, b) = call(&k.state, "GET", "/v1/credentials", Some(&proxy), None)
            .await
            .status_json();
        assert_eq!((s, b), (StatusCode::OK, json!({"keys":["SECRET"]})));
        for uri in [
            "/v1/credentials?reveal=true",
            "/v1/credentials?reveal=true&key=SECRET",
        ] {
            let (s, b) = call(&k.state, "GET", uri, Some(&proxy), None)
                .await
                .status_json();
            assert_eq!(
                (s, b),
                (
                    StatusCode::FORBIDDEN,
                    json!({"error":"Member role required"})
                )
            );
        }
        let (s, _) = call(
            &k.state,
            "POST",
            "/v1/credentials",
            Some(&proxy),
            r#"{"credentials":{"SECRET":"x"}}"#,
        )
        .await
        .status_json();
        assert_eq!(s, StatusCode::FORBIDDEN);
        let member = k.scoped(VaultRole::Member);
        let (_, b) = call(
            &k.state,
            "GET",
            "/v1/credentials?reveal=true",
            Some(&member),
            None,
        )
        .await
        .status_json();
        assert_eq!(b["credentials"][0]["value"], "v");
    }
}

//! A vault's service rules (reference §4.13): which host gets which credentials, how.
//!
//! The rules of a vault are one JSON array in `broker_configs.services_json`, replaced as a
//! whole, so a reader (the proxy) never sees half an update. Reading needs any vault role;
//! changing needs `member` (DESIGN §6 fix 7). Validation is the store's
//! ([`av_store::services::validate_services`]); its messages name the service index and the
//! field, so an agent can correct its request. Also here: which services use a credential key,
//! and the built-in catalog of service templates.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use av_store::catalog::CATALOG;
use av_store::services::{validate_services, Service};
use av_store::{new_id, time};

use crate::authz;
use crate::body::RawBody;
use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::routes::credentials::param;
use crate::state::AppState;

/// Services of a vault, credential usage, and the catalog.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/vaults/{name}/services",
            get(list).put(replace).delete(clear),
        )
        .route(
            "/v1/vaults/{name}/services/credential-usage",
            get(credential_usage),
        )
        .route("/v1/service-catalog", get(catalog))
}

/// The stored services JSON of a vault (`[]` when it has no config row). Stored `null`
/// (written by older data) reads as `[]`.
fn stored_json(conn: &Connection, vault_id: &str) -> ApiResult<Value> {
    let text: Option<String> = conn
        .query_row(
            "SELECT services_json FROM broker_configs WHERE vault_id = ?1",
            [vault_id],
            |r| r.get(0),
        )
        .optional()?;
    let value = match text {
        Some(t) => serde_json::from_str(&t).map_err(ApiError::internal)?,
        None => Value::Null,
    };
    Ok(if value.is_null() { json!([]) } else { value })
}

/// The service rules of a vault, for code that reads or merges them (proposals, usage).
pub fn load_services(conn: &Connection, vault_id: &str) -> ApiResult<Vec<Service>> {
    serde_json::from_value(stored_json(conn, vault_id)?).map_err(ApiError::internal)
}

/// Replaces the service rules of a vault (creating its config row if needed). Callers
/// validate first.
pub fn store_services(conn: &Connection, vault_id: &str, services: &[Service]) -> ApiResult<()> {
    let text = serde_json::to_string(services).map_err(ApiError::internal)?;
    let now = time::now();
    conn.execute(
        "INSERT INTO broker_configs (id, vault_id, services_json, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (vault_id) DO UPDATE SET
             services_json = excluded.services_json,
             updated_at = excluded.updated_at",
        params![new_id(), vault_id, text, now],
    )?;
    Ok(())
}

/// `GET /v1/vaults/{name}/services` → `{"vault","services"}`.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let conn = state.store.conn()?;
    let vault = authz::vault_or_404(&conn, &name)?;
    authz::vault_access(&conn, &caller, &vault)?;
    let services = stored_json(&conn, &vault.id)?;
    Ok(Json(json!({ "vault": vault.name, "services": services })))
}

/// Decodes the `services` field of a PUT body; errors are the text after `Invalid services: `.
fn decode_services(body: &Map<String, Value>) -> Result<Vec<Service>, String> {
    match body.get("services") {
        None => Err("\"services\" is required (a list of services)".into()),
        Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| Service::deserialize(item).map_err(|e| format!("service {i}: {e}")))
            .collect(),
        Some(other) => Err(format!(
            "\"services\" must be a list of services, not {}",
            json_kind(other)
        )),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `PUT /v1/vaults/{name}/services` `{"services":[...]}`: validates every rule, then replaces
/// the whole list → `{"vault","services_count"}`.
async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let vault = {
        let conn = state.store.conn()?;
        let vault = authz::vault_or_404(&conn, &name)?;
        authz::vault_member(&conn, &caller, &vault)?;
        vault
    };
    let req: Map<String, Value> = body
        .json()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    let services = decode_services(&req)
        .and_then(|s| validate_services(&s, state.config.dev_mode).map(|()| s))
        .map_err(|e| ApiError::bad_request(format!("Invalid services: {e}")))?;
    state
        .store
        .write(|tx| store_services(tx, &vault.id, &services))?;
    Ok(Json(
        json!({ "vault": vault.name, "services_count": services.len() }),
    ))
}

/// `DELETE /v1/vaults/{name}/services` → `{"vault","cleared":true}`.
async fn clear(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let vault = {
        let conn = state.store.conn()?;
        let vault = authz::vault_or_404(&conn, &name)?;
        authz::vault_member(&conn, &caller, &vault)?;
        vault
    };
    state.store.write(|tx| store_services(tx, &vault.id, &[]))?;
    Ok(Json(json!({ "vault": vault.name, "cleared": true })))
}

/// `GET /v1/vaults/{name}/services/credential-usage?key=K` → the services whose auth reads
/// credential `K` (`{"services":[{"host","description"?}]}`).
async fn credential_usage(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let conn = state.store.conn()?;
    let vault = authz::vault_or_404(&conn, &name)?;
    authz::vault_access(&conn, &caller, &vault)?;
    let key = param(&query, "key")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad_request("Missing required query parameter: key"))?;
    let users: Vec<Value> = load_services(&conn, &vault.id)?
        .into_iter()
        .filter(|s| s.auth.references(key))
        .map(|s| {
            let mut v = json!({ "host": s.host });
            if let Some(d) = s.description.filter(|d| !d.is_empty()) {
                v["description"] = json!(d);
            }
            v
        })
        .collect();
    Ok(Json(json!({ "services": users })))
}

/// `GET /v1/service-catalog` (no auth) → `{"services":[template...]}` in the fixed order.
async fn catalog() -> Json<Value> {
    Json(json!({ "services": CATALOG }))
}

#[cfg(test)]
mod tests {
    use crate::testkit::{call, Kit};
    use av_store::roles::VaultRole;
    use axum::http::StatusCode;
    use serde_json::json;

    const URL: &str = "/v1/vaults/default/services";

    #[tokio::test]
    async fn replace_read_clear_and_usage() {
        let k = Kit::new();
        let t = k.owner.as_str();
        let body = r#"{"services":[
            {"host":"api.stripe.com","auth":{"type":"bearer","token":"STRIPE_KEY"}},
            {"host":"*.example.com","description":"x","auth":{"type":"custom","headers":{"X-A":"{{ A }} {{B}}"}}}]}"#;
        let (s, b) = call(&k.state, "PUT", URL, Some(t), body)
            .await
            .status_json();
        assert_eq!(
            (s, b),
            (
                StatusCode::OK,
                json!({"vault":"default","services_count":2})
            )
        );
        let (_, b) = call(&k.state, "GET", URL, Some(t), None)
            .await
            .status_json();
        assert_eq!(
            b["services"][0],
            json!({"host":"api.stripe.com","description":null,"auth":{"type":"bearer","token":"STRIPE_KEY"}})
        );
        let (_, b) = call(
            &k.state,
            "GET",
            &format!("{URL}/credential-usage?key=B"),
            Some(t),
            None,
        )
        .await
        .status_json();
        assert_eq!(
            b,
            json!({"services":[{"host":"*.example.com","description":"x"}]})
        );
        let (s, b) = call(
            &k.state,
            "GET",
            &format!("{URL}/credential-usage"),
            Some(t),
            None,
        )
        .await
        .status_json();
        assert_eq!(
            (s, b),
            (
                StatusCode::BAD_REQUEST,
                json!({"error":"Missing required query parameter: key"})
            )
        );
        let (s, b) = call(&k.state, "DELETE", URL, Some(t), None)
            .await
            .status_json();
        assert_eq!(
            (s, b),
            (StatusCode::OK, json!({"vault":"default","cleared":true}))
        );
        let (_, b) = call(&k.state, "GET", URL, Some(t), None)
            .await
            .status_json();
        assert_eq!(b, json!({"vault":"default","services":[]}));
    }

    #[tokio::test]
    async fn validation_and_decode_errors_name_the_service() {
        let k = Kit::new();
        let t = k.owner.as_str();
        let cases = [
            ("{", "Invalid request body"),
            (
                "{}",
                "Invalid services: \"services\" is required (a list of services)",
            ),
            (
                r#"{"services":{}}"#,
                "Invalid services: \"services\" must be a list of services, not an object",
            ),
            (
                r#"{"services":[{"host":"a.example.com","auth":{"type":"bearer","token":"A"}},{"host":7}]}"#,
                "Invalid services: service 1: invalid type: integer `7`, expected a string",
            ),
            (
                r#"{"services":[{"host":"a.example.com","auth":{"type":"bearer"}}]}"#,
                "Invalid services: service 0: auth: \"token\" is required for bearer auth",
            ),
        ];
        for (body, msg) in cases {
            let (s, b) = call(&k.state, "PUT", URL, Some(t), body)
                .await
                .status_json();
            assert_eq!(
                (s, b),
                (StatusCode::BAD_REQUEST, json!({ "error": msg })),
                "{body}"
            );
        }
    }

    #[tokio::test]
    async fn members_write_proxies_read() {
        let k = Kit::new();
        let body =
            r#"{"services":[{"host":"api.stripe.com","auth":{"type":"bearer","token":"K"}}]}"#;
        let proxy = k.scoped(VaultRole::Proxy);
        let (s, _) = call(&k.state, "GET", URL, Some(&proxy), None)
            .await
            .status_json();
        assert_eq!(s, StatusCode::OK);
        let (s, b) = call(&k.state, "PUT", URL, Some(&proxy), body)
            .await
            .status_json();
        assert_eq!(
            (s, b),
            (
                StatusCode::FORBIDDEN,
                json!({"error":"Member role required"})
            )
        );
        let member = k.scoped(VaultRole::Member);
        let (s, _) = call(&k.state, "PUT", URL, Some(&member), body)
            .await
            .status_json();
        assert_eq!(s, StatusCode::OK);
        let (s, b) = call(
            &k.state,
            "GET",
            "/v1/vaults/nope/services",
            Some(&member),
            None,
        )
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
    async fn catalog_needs_no_auth() {
        let k = Kit::new();
        let (s, b) = call(&k.state, "GET", "/v1/service-catalog", None, None)
            .await
            .status_json();
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["services"].as_array().map(Vec::len), Some(20));
        assert_eq!(b["services"][12]["host"], "*.atlassian.net");
    }
}

//! Accounts (reference §4.7–4.8, DESIGN §6 fix 11): register, verify, resend, forgot and
//! reset password are open before the first owner exists; login, me, change password, delete
//! account and logout sit behind the initialization gate.
//!
//! Passwords are hashed and verified with Argon2id on the blocking pool. Codes are six digits,
//! stored hashed, and shown only in an email to the address, or on the server's stderr when
//! there is no SMTP or the email fails. Re-registering an unverified email never replaces its
//! password, and unknown emails cost a login as much as wrong passwords.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use av_store::roles::InstanceRole;
use av_store::{time, token};

use crate::body::RawBody;
use crate::caller::{self, Caller, CallerKind};
use crate::error::{ApiError, ApiResult};
use crate::limiter;
use crate::state::AppState;
use crate::users::{self, CodeKind, MIN_PASSWORD_LEN};

/// Gated routes (login, me, change password, delete account, logout).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/me", get(me))
        .route("/v1/auth/change-password", post(change_password))
        .route("/v1/auth/account", delete(delete_account))
        .route("/v1/auth/logout", post(logout))
}

/// Routes open before the first owner exists (register, verify, resend, forgot, reset).
pub fn open_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/register", post(register))
        .route("/v1/auth/verify", post(verify))
        .route("/v1/auth/resend-verification", post(resend_verification))
        .route("/v1/auth/forgot-password", post(forgot_password))
        .route("/v1/auth/reset-password", post(reset_password))
}

/// The client IP used as a rate-limit key (see [`limiter::client_ip`]). Without connect info
/// (router tests without sockets) every request shares the key `unknown`.
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let xff = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        Ok(ClientIp(limiter::client_ip(
            peer,
            xff,
            &state.config.trusted_proxies,
        )))
    }
}

/// A JSON answer that also sets a cookie.
fn with_cookie(status: StatusCode, cookie: String, body: Value) -> Response {
    (status, [(SET_COOKIE, cookie)], Json(body)).into_response()
}

/// Creates a 24 h login session; returns the raw token and its RFC 3339 expiry.
pub(crate) fn login_session(state: &AppState, user_id: &str) -> ApiResult<(String, String)> {
    let (raw, expires) = state.store.read(|c| {
        caller::create_session(c, Some(user_id), None, None, Some(users::LOGIN_TTL_SECONDS))
            .map_err(ApiError::from)
    })?;
    Ok((raw, time::rfc3339(&expires.unwrap_or_default())))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Credentials {
    email: String,
    password: String,
}

fn uniform_register_body(email: &str, smtp: bool) -> Value {
    json!({
        "email": email,
        "requires_verification": true,
        "email_sent": smtp,
        "message": "If this email is not already registered, a verification code has been sent.",
    })
}

/// What registration decided inside its transaction.
enum Registered {
    Owner(String),
    Member(Option<String>),
    Exists,
}

/// Creates the first account, an active owner and admin of `default`, unless any user exists
/// (`None` then). Call inside a write transaction so the count and the insert are atomic.
pub(crate) fn create_first_owner(
    tx: &rusqlite::Connection,
    email: &str,
    hash: &av_store::crypto::PasswordHash,
) -> rusqlite::Result<Option<String>> {
    let count: i64 = tx.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
    if count != 0 {
        return Ok(None);
    }
    let id = users::create_user(tx, email, hash, InstanceRole::Owner, true)?;
    crate::authz::upsert_grant(
        tx,
        (&id, "user"),
        av_store::DEFAULT_VAULT_ID,
        av_store::roles::VaultRole::Admin,
    )?;
    Ok(Some(id))
}

/// The first checks of a registration, in the reference's order, shared by the API and the
/// owner form at `/`: email format, password length, the per-IP limit. Returns the bare email.
pub(crate) fn check_registration(
    state: &AppState,
    ip: &ClientIp,
    email: &str,
    password: &str,
) -> ApiResult<String> {
    let email = users::validate_email(email)?;
    if password.len() < MIN_PASSWORD_LEN {
        return Err(ApiError::bad_request(
            "Password must be at least 8 characters",
        ));
    }
    if !state.limits.register_ip.allow(&ip.0) {
        return Err(ApiError::too_many(
            "Too many registration attempts, try again later",
        ));
    }
    Ok(email)
}

async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    body: RawBody,
) -> ApiResult<Response> {
    let req: Credentials = body
        .json()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    let email = check_registration(&state, &ip, &req.email, &req.password)?;
    let restrict = |c: &rusqlite::Connection| -> ApiResult<()> {
        users::check_email_domain(c, &email)?;
        if users::invite_only(c) {
            return Err(ApiError::forbidden(
                "This instance is invite-only; accounts can only be created through an invite",
            ));
        }
        Ok(())
    };
    let smtp = state.config.smtp.as_ref();
    let initialized = state.is_initialized();
    let existing = state.store.read(|c| {
        if initialized {
            restrict(c)?;
        }
        Ok::<_, ApiError>(users::find_user(c, &email)?)
    })?;
    if let Some(user) = existing {
        // Cost the same time as a new registration, so timing does not reveal accounts.
        users::hash_blocking(req.password.clone()).await?;
        // Never touch an existing account (DESIGN fix 11): an unverified one only gets a
        // fresh code, sent to the address itself.
        if !user.active {
            let code = state.store.read(|c| {
                users::issue_code(c, CodeKind::Verification, &email).map_err(ApiError::from)
            })?;
            if let Some(code) = code {
                users::deliver_code_later(smtp, CodeKind::Verification, &email, code);
            }
        }
        return Ok((
            StatusCode::CREATED,
            Json(uniform_register_body(&email, smtp.is_some())),
        )
            .into_response());
    }

    let hash = users::hash_blocking(req.password.clone()).await?;
    let outcome = state.store.write(|tx| {
        if users::find_user(tx, &email)?.is_some() {
            return Ok(Registered::Exists);
        }
        if let Some(id) = create_first_owner(tx, &email, &hash)? {
            return Ok(Registered::Owner(id));
        }
        if !initialized {
            restrict(tx)?;
        }
        users::create_user(tx, &email, &hash, InstanceRole::Member, false)?;
        let code = users::issue_code(tx, CodeKind::Verification, &email)?;
        Ok::<_, ApiError>(Registered::Member(code))
    })?;
    match outcome {
        Registered::Exists => Ok((
            StatusCode::CREATED,
            Json(uniform_register_body(&email, smtp.is_some())),
        )
            .into_response()),
        Registered::Owner(id) => {
            state.mark_initialized();
            let (raw, _) = login_session(&state, &id)?;
            Ok(with_cookie(
                StatusCode::CREATED,
                caller::session_cookie(&state, &raw),
                json!({
                    "email": email,
                    "role": "owner",
                    "requires_verification": false,
                    "authenticated": true,
                    "message": "Owner account created.",
                }),
            ))
        }
        Registered::Member(code) => {
            let Some(code) = code else {
                return Err(ApiError::too_many("Too many pending verification codes"));
            };
            let sent = users::deliver_code(smtp, CodeKind::Verification, &email, &code).await;
            let message = if sent {
                "Account created. Check your email for a verification code."
            } else {
                "Account created. Ask your Agent Vault instance owner for the verification code."
            };
            Ok((
                StatusCode::CREATED,
                Json(json!({
                    "email": email,
                    "requires_verification": true,
                    "email_sent": sent,
                    "message": message,
                })),
            )
                .into_response())
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VerifyReq {
    email: String,
    code: String,
}

async fn verify(State(state): State<AppState>, body: RawBody) -> ApiResult<Response> {
    let req: VerifyReq = body
        .json()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    let email = req.email.trim().to_string();
    let code = req.code.trim();
    if email.is_empty() || code.is_empty() {
        return Err(ApiError::bad_request("Email and code are required"));
    }
    if state.limits.verify_failures.get(&email) >= 10 {
        return Err(ApiError::too_many(
            "Too many failed verification attempts; request a new code",
        ));
    }
    let user_id = state.store.write(|tx| {
        if !users::consume_code(tx, CodeKind::Verification, &email, code)? {
            return Ok(Err(ApiError::bad_request(
                "Invalid or expired verification code",
            )));
        }
        let Some(user) = users::find_user(tx, &email)? else {
            return Ok(Err(ApiError::not_found("User not found")));
        };
        if user.active {
            return Ok(Err(ApiError::conflict("Account is already verified")));
        }
        tx.execute(
            "UPDATE users SET is_active = 1, updated_at = ?2 WHERE id = ?1",
            [&user.id, &time::now()],
        )?;
        Ok::<_, ApiError>(Ok(user.id))
    })?;
    let user_id = match user_id {
        Ok(id) => id,
        Err(e) => {
            if e.status() == StatusCode::BAD_REQUEST {
                state.limits.verify_failures.fail(&email);
            }
            return Err(e);
        }
    };
    state.limits.verify_failures.reset(&email);
    let (raw, _) = login_session(&state, &user_id)?;
    Ok(with_cookie(
        StatusCode::OK,
        caller::session_cookie(&state, &raw),
        json!({ "email": email, "authenticated": true, "message": "Account verified." }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EmailReq {
    email: String,
}

fn email_only(body: &RawBody) -> ApiResult<String> {
    let req: EmailReq = body
        .json()
        .map_err(|_| ApiError::bad_request("Email is required"))?;
    let email = req.email.trim().to_string();
    if email.is_empty() {
        return Err(ApiError::bad_request("Email is required"));
    }
    Ok(email)
}

async fn resend_verification(
    State(state): State<AppState>,
    ip: ClientIp,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let email = email_only(&body)?;
    if !state.limits.resend_ip.allow(&ip.0) {
        return Err(ApiError::too_many("Too many requests, try again later"));
    }
    let code = state.store.write(|tx| {
        match users::find_user(tx, &email)? {
            Some(u) if !u.active => users::issue_code(tx, CodeKind::Verification, &email),
            _ => Ok(None),
        }
        .map_err(ApiError::from)
    })?;
    let smtp = state.config.smtp.as_ref();
    if let Some(code) = code {
        users::deliver_code_later(smtp, CodeKind::Verification, &email, code);
    }
    Ok(Json(json!({
        "message": "If an unverified account exists for this email, a new verification code has been sent.",
        "email_sent": smtp.is_some(),
    })))
}

async fn forgot_password(
    State(state): State<AppState>,
    ip: ClientIp,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let email = email_only(&body)?;
    if !state.limits.forgot_ip.allow(&ip.0) {
        return Err(ApiError::too_many("Too many requests, try again later"));
    }
    let code = state.store.write(|tx| {
        match users::find_user(tx, &email)? {
            Some(u) if u.active && u.password.is_some() => {
                users::issue_code(tx, CodeKind::Reset, &email)
            }
            _ => Ok(None),
        }
        .map_err(ApiError::from)
    })?;
    let smtp = state.config.smtp.as_ref();
    if let Some(code) = code {
        users::deliver_code_later(smtp, CodeKind::Reset, &email, code);
    }
    Ok(Json(json!({
        "message": "If an account with that email exists, a password reset code has been sent.",
        "email_sent": smtp.is_some(),
    })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResetReq {
    email: String,
    code: String,
    new_password: String,
}

async fn reset_password(State(state): State<AppState>, body: RawBody) -> ApiResult<Response> {
    let req: ResetReq = body
        .json()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    let email = req.email.trim().to_string();
    if email.is_empty() || req.code.trim().is_empty() || req.new_password.is_empty() {
        return Err(ApiError::bad_request(
            "Email, code, and new_password are required",
        ));
    }
    if req.new_password.len() < MIN_PASSWORD_LEN {
        return Err(ApiError::bad_request(
            "New password must be at least 8 characters",
        ));
    }
    if state.limits.reset_failures.get(&email) >= 10 {
        return Err(ApiError::too_many(
            "Too many failed reset attempts; request a new code",
        ));
    }
    let invalid = || ApiError::bad_request("Invalid or expired reset code");
    let hash = users::hash_blocking(req.new_password.clone()).await?;
    let user_id = state.store.write(|tx| {
        let user = users::find_user(tx, &email)?.filter(|u| u.active && u.password.is_some());
        let Some(user) = user else {
            return Ok(None);
        };
        if !users::consume_code(tx, CodeKind::Reset, &email, req.code.trim())? {
            return Ok(None);
        }
        users::set_password(tx, &user.id, &hash)?;
        tx.execute("DELETE FROM sessions WHERE user_id = ?1", [&user.id])?;
        Ok::<_, ApiError>(Some(user.id))
    })?;
    let Some(user_id) = user_id else {
        state.limits.reset_failures.fail(&email);
        return Err(invalid());
    };
    state.limits.reset_failures.reset(&email);
    let (raw, expires_at) = login_session(&state, &user_id)?;
    Ok(with_cookie(
        StatusCode::OK,
        caller::session_cookie(&state, &raw),
        json!({
            "message": "Password reset successfully.",
            "authenticated": true,
            "expires_at": expires_at,
        }),
    ))
}

async fn login(State(state): State<AppState>, ip: ClientIp, body: RawBody) -> ApiResult<Response> {
    let req: Credentials = body.json().unwrap_or_default();
    let email = req.email.trim().to_string();
    if email.is_empty() || req.password.is_empty() {
        return Err(ApiError::bad_request("Email and password are required"));
    }
    if !state.limits.login_ip.allow(&ip.0) || !state.limits.login_email.allow(&email) {
        return Err(ApiError::too_many(
            "Too many login attempts, try again later",
        ));
    }
    let user = state
        .store
        .read(|c| users::find_user(c, &email).map_err(ApiError::from))?;
    let invalid = || ApiError::unauthorized("Invalid email or password");
    let Some(user) = user else {
        users::verify_blocking(req.password.clone(), None).await;
        return Err(invalid());
    };
    let Some(stored) = user.password else {
        return Err(ApiError::unauthorized(
            "This account uses social login. Use the 'Continue with Google' button on the login page.",
        ));
    };
    if !users::verify_blocking(req.password.clone(), Some(stored)).await || !user.active {
        return Err(invalid());
    }
    let (raw, expires_at) = login_session(&state, &user.id)?;
    Ok(with_cookie(
        StatusCode::OK,
        caller::session_cookie(&state, &raw),
        json!({ "token": raw, "expires_at": expires_at }),
    ))
}

async fn me(caller: Caller) -> ApiResult<Json<Value>> {
    match caller.kind {
        CallerKind::User { email, role, .. } => Ok(Json(json!({
            "type": "user",
            "email": email,
            "role": role,
            "is_owner": role == InstanceRole::Owner,
            "has_password": true,
            "oauth_providers": [],
        }))),
        CallerKind::Agent { name, role, .. } => Ok(Json(json!({
            "type": "agent",
            "agent_name": name,
            "role": role,
            "is_owner": role == InstanceRole::Owner,
        }))),
        CallerKind::Scoped { .. } => Err(ApiError::unauthorized("Not authenticated")),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChangePasswordReq {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    body: RawBody,
) -> ApiResult<Response> {
    let req: ChangePasswordReq = body
        .json()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    if req.new_password.is_empty() {
        return Err(ApiError::bad_request("New_password is required"));
    }
    if req.new_password.len() < MIN_PASSWORD_LEN {
        return Err(ApiError::bad_request(
            "New password must be at least 8 characters",
        ));
    }
    let (_, email, _) = caller.user()?;
    let user = state
        .store
        .read(|c| users::find_user(c, &email).map_err(ApiError::from))?
        .ok_or_else(|| ApiError::unauthorized("Not authenticated"))?;
    if let Some(stored) = user.password {
        if req.current_password.is_empty() {
            return Err(ApiError::bad_request("Current_password is required"));
        }
        if !users::verify_blocking(req.current_password.clone(), Some(stored)).await {
            return Err(ApiError::unauthorized("Current password is incorrect"));
        }
    }
    let hash = users::hash_blocking(req.new_password.clone()).await?;
    state.store.write(|tx| {
        users::set_password(tx, &user.id, &hash)?;
        tx.execute("DELETE FROM sessions WHERE user_id = ?1", [&user.id])?;
        Ok::<_, ApiError>(())
    })?;
    let (raw, expires_at) = login_session(&state, &user.id)?;
    Ok(with_cookie(
        StatusCode::OK,
        caller::session_cookie(&state, &raw),
        json!({ "token": raw, "expires_at": expires_at }),
    ))
}

async fn delete_account(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let (id, email, role) = caller.user()?;
    if role == InstanceRole::Owner {
        return Err(ApiError::conflict(
            "Owners cannot delete their own account; transfer ownership first",
        ));
    }
    state
        .store
        .write(|tx| users::delete_user(tx, &id).map_err(ApiError::from))?;
    Ok(with_cookie(
        StatusCode::OK,
        caller::clear_cookie(&state),
        json!({ "status": "deleted", "email": email }),
    ))
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(raw) = caller::request_token(&headers) {
        let _ = state.store.read(|c| {
            c.execute("DELETE FROM sessions WHERE id = ?1", [token::hash(&raw)])
                .map_err(av_store::Error::from)
        });
    }
    with_cookie(
        StatusCode::OK,
        caller::clear_cookie(&state),
        json!({ "status": "ok" }),
    )
}

#[cfg(test)]
mod tests {
    use crate::testkit::{call, state, user};
    use crate::users::CodeKind;
    use serde_json::json;

    #[tokio::test]
    async fn register_login_me_and_gate() {
        let (st, _d) = state();
        let (s, _, b) = call(&st, "POST", "/v1/auth/login", None, Some(json!({})))
            .await
            .code_cookie_json();
        assert_eq!((s, b["error"].as_str()), (503, Some("not_initialized")));
        let bad = json!({ "email": "nope", "password": "correct-horse" });
        let (s, _, b) = call(&st, "POST", "/v1/auth/register", None, Some(bad))
            .await
            .code_cookie_json();
        assert_eq!(s, 400);
        assert!(b["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid email format"));
        let short = json!({ "email": "o@x.io", "password": "short" });
        let (s, _, b) = call(&st, "POST", "/v1/auth/register", None, Some(short))
            .await
            .code_cookie_json();
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("Password must be at least 8 characters"))
        );

        let body = json!({ "email": "o@x.io", "password": "correct-horse" });
        let (s, cookie, b) = call(&st, "POST", "/v1/auth/register", None, Some(body))
            .await
            .code_cookie_json();
        assert_eq!(s, 201);
        assert_eq!(b["role"], "owner");
        assert!(b.get("token").is_none());
        assert!(cookie.unwrap().starts_with("av_session=av_sess_"));

        let wrong = json!({ "email": "o@x.io", "password": "wrong-horse" });
        let (s, _, b) = call(&st, "POST", "/v1/auth/login", None, Some(wrong))
            .await
            .code_cookie_json();
        assert_eq!(
            (s, b["error"].as_str()),
            (401, Some("Invalid email or password"))
        );
        let unknown = json!({ "email": "u@x.io", "password": "wrong-horse" });
        let (s, _, b) = call(&st, "POST", "/v1/auth/login", None, Some(unknown))
            .await
            .code_cookie_json();
        assert_eq!(
            (s, b["error"].as_str()),
            (401, Some("Invalid email or password"))
        );

        let tok = user(&st, "m@x.io").await;
        let (s, _, b) = call(&st, "GET", "/v1/auth/me", Some(&tok), None)
            .await
            .code_cookie_json();
        assert_eq!(s, 200);
        assert_eq!(
            b,
            json!({"type":"user","email":"m@x.io","role":"member","is_owner":false,"has_password":true,"oauth_providers":[]})
        );
        let (s, _, _) = call(&st, "POST", "/v1/auth/logout", Some(&tok), None)
            .await
            .code_cookie_json();
        assert_eq!(s, 200);
        let (s, _, b) = call(&st, "GET", "/v1/auth/me", Some(&tok), None)
            .await
            .code_cookie_json();
        assert_eq!(
            (s, b["error"].as_str()),
            (401, Some("Invalid or expired session"))
        );
    }

    #[tokio::test]
    async fn password_flows_and_limits() {
        let (st, _d) = state();
        let owner = user(&st, "o@x.io").await;
        let err = |b: &serde_json::Value| b["error"].as_str().unwrap_or("").to_string();

        // An unverified account keeps its first password (fix 11) and cannot log in.
        let first = json!({ "email": "u@x.io", "password": "first-password" });
        let (s, _, b) = call(&st, "POST", "/v1/auth/register", None, Some(first.clone()))
            .await
            .code_cookie_json();
        assert_eq!((s, b["requires_verification"].clone()), (201, json!(true)));
        let second = json!({ "email": "u@x.io", "password": "second-password" });
        let (s, _, _) = call(&st, "POST", "/v1/auth/register", None, Some(second.clone()))
            .await
            .code_cookie_json();
        assert_eq!(s, 201);
        let (s, _, _) = call(&st, "POST", "/v1/auth/login", None, Some(first.clone()))
            .await
            .code_cookie_json();
        assert_eq!(s, 401);
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/auth/verify",
            None,
            Some(json!({ "email": "u@x.io", "code": "000000x" })),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (400, "Invalid or expired verification code".into())
        );
        let code = st
            .store
            .read(|c| {
                crate::users::issue_code(c, CodeKind::Verification, "u@x.io")
                    .map_err(av_store::Error::from)
            })
            .unwrap();
        assert!(code.is_some());
        let code = st
            .store
            .read(|c| {
                crate::users::issue_code(c, CodeKind::Verification, "u@x.io")
                    .map_err(av_store::Error::from)
            })
            .unwrap();
        assert!(code.is_none(), "three pending codes are the cap");
        let (s, _, b) = call(&st, "POST", "/v1/auth/register", None, Some(second.clone()))
            .await
            .code_cookie_json();
        assert_eq!((s, b["email"].as_str()), (201, Some("u@x.io")));
        // Verify with a fresh code after expiring the old ones.
        st.store
            .read(|c| {
                c.execute(
                    "UPDATE email_verifications SET expires_at = '2000-01-01 00:00:00'",
                    [],
                )
                .map_err(av_store::Error::from)
            })
            .unwrap();
        let code = st
            .store
            .read(|c| {
                crate::users::issue_code(c, CodeKind::Verification, "u@x.io")
                    .map_err(av_store::Error::from)
            })
            .unwrap()
            .unwrap();
        let (s, cookie, _) = call(
            &st,
            "POST",
            "/v1/auth/verify",
            None,
            Some(json!({ "email": "u@x.io", "code": code })),
        )
        .await
        .code_cookie_json();
        assert_eq!(s, 200);
        assert!(cookie.is_some());
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/auth/verify",
            None,
            Some(json!({ "email": "u@x.io", "code": code })),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (400, "Invalid or expired verification code".into())
        );
        let (s, _, _) = call(&st, "POST", "/v1/auth/login", None, Some(second))
            .await
            .code_cookie_json();
        assert_eq!(s, 401);
        let (s, _, b) = call(&st, "POST", "/v1/auth/login", None, Some(first))
            .await
            .code_cookie_json();
        assert_eq!(s, 200);
        let tok = b["token"].as_str().unwrap().to_string();

        // Change password: all sessions end, a fresh one is returned.
        let cp = |cur: &str, new: &str| json!({ "current_password": cur, "new_password": new });
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/auth/change-password",
            Some(&tok),
            Some(cp("", "short")),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (400, "New password must be at least 8 characters".into())
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/auth/change-password",
            Some(&tok),
            Some(cp("", "third-password")),
        )
        .await
        .code_cookie_json();
        assert_eq!((s, err(&b)), (400, "Current_password is required".into()));
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/auth/change-password",
            Some(&tok),
            Some(cp("wrong-password", "third-password")),
        )
        .await
        .code_cookie_json();
        assert_eq!((s, err(&b)), (401, "Current password is incorrect".into()));
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/auth/change-password",
            Some(&tok),
            Some(cp("first-password", "third-password")),
        )
        .await
        .code_cookie_json();
        assert_eq!(s, 200);
        let fresh = b["token"].as_str().unwrap().to_string();
        assert!(b["expires_at"].as_str().unwrap().ends_with('Z'));
        let (s, _, _) = call(&st, "GET", "/v1/auth/me", Some(&tok), None)
            .await
            .code_cookie_json();
        assert_eq!(s, 401);

        // Forgot and reset.
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/auth/forgot-password",
            None,
            Some(json!({ "email": "u@x.io" })),
        )
        .await
        .code_cookie_json();
        assert_eq!((s, b["email_sent"].clone()), (200, json!(false)));
        let reset = |code: &str| json!({ "email": "u@x.io", "code": code, "new_password": "fourth-password" });
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/auth/reset-password",
            None,
            Some(reset("123")),
        )
        .await
        .code_cookie_json();
        assert_eq!((s, err(&b)), (400, "Invalid or expired reset code".into()));
        let code = st
            .store
            .read(|c| {
                crate::users::issue_code(c, CodeKind::Reset, "u@x.io")
                    .map_err(av_store::Error::from)
            })
            .unwrap()
            .unwrap();
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/auth/reset-password",
            None,
            Some(reset(&code)),
        )
        .await
        .code_cookie_json();
        assert_eq!((s, b["authenticated"].clone()), (200, json!(true)));
        let (s, _, _) = call(&st, "GET", "/v1/auth/me", Some(&fresh), None)
            .await
            .code_cookie_json();
        assert_eq!(s, 401);

        // Members may delete themselves.
        let tok = user(&st, "d@x.io").await;
        let (s, cookie, b) = call(&st, "DELETE", "/v1/auth/account", Some(&tok), None)
            .await
            .code_cookie_json();
        assert_eq!(
            (s, b),
            (200, json!({ "status": "deleted", "email": "d@x.io" }))
        );
        assert!(cookie.unwrap().contains("Max-Age=0"));

        // Rate limits (all requests share one key without a socket).
        let mut last = 0;
        for _ in 0..12 {
            let body = json!({ "email": "o@x.io", "password": "wrong-password" });
            last = call(&st, "POST", "/v1/auth/login", None, Some(body))
                .await
                .code_cookie_json()
                .0;
        }
        assert_eq!(last, 429);
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({ "email": "o@x.io", "password": "correct-horse" })),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (429, "Too many login attempts, try again later".into())
        );
        for _ in 0..6 {
            last = call(
                &st,
                "POST",
                "/v1/auth/forgot-password",
                None,
                Some(json!({ "email": "a@x.io" })),
            )
            .await
            .code_cookie_json()
            .0;
        }
        assert_eq!(last, 429);
        for i in 0..10 {
            let v = json!({ "email": "zz@x.io", "code": format!("{i:06}") });
            call(&st, "POST", "/v1/auth/verify", None, Some(v))
                .await
                .code_cookie_json();
        }
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/auth/verify",
            None,
            Some(json!({ "email": "zz@x.io", "code": "1" })),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (
                429,
                "Too many failed verification attempts; request a new code".into()
            )
        );
        drop(owner);
    }
}

//! Who is calling: the bearer token (or `av_session` cookie) resolved to a user login
//! session, an agent token, or a vault-scoped session.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use rusqlite::{params, Connection, OptionalExtension};

use av_store::roles::{InstanceRole, VaultRole};
use av_store::{time, token};

use crate::error::ApiError;
use crate::state::AppState;

pub use token::SESSION_COOKIE;

/// An authenticated request's identity.
#[derive(Clone, Debug)]
pub struct Caller {
    /// SHA-256 hex of the presented token (the `sessions.id`).
    pub session_id: String,
    /// What the token stands for.
    pub kind: CallerKind,
}

/// The three kinds of session.
#[derive(Clone, Debug)]
pub enum CallerKind {
    /// A human's login session.
    User {
        /// User id.
        id: String,
        /// Email as registered.
        email: String,
        /// Instance role.
        role: InstanceRole,
    },
    /// An agent's instance-level token.
    Agent {
        /// Agent id.
        id: String,
        /// Agent name.
        name: String,
        /// Instance role.
        role: InstanceRole,
    },
    /// A vault-scoped session (from `vault run` / `vault token`): no actor identity.
    Scoped {
        /// The one vault it may touch.
        vault_id: String,
        /// Its role there.
        role: VaultRole,
    },
}

/// A user or agent (never a scoped session): the subject of instance-level permissions.
#[derive(Clone, Debug)]
pub struct Actor {
    /// User or agent id.
    pub id: String,
    /// `"user"` or `"agent"` (the `vault_grants.actor_type`).
    pub actor_type: &'static str,
    /// Instance role.
    pub role: InstanceRole,
    /// Email (users) or agent name (agents): how the actor is shown to people.
    pub label: String,
}

impl Actor {
    /// Whether the actor is an instance owner.
    pub fn is_owner(&self) -> bool {
        self.role == InstanceRole::Owner
    }
}

impl Caller {
    /// The actor behind the session, or 403 "Authentication required" for scoped sessions.
    pub fn actor(&self) -> Result<Actor, ApiError> {
        match &self.kind {
            CallerKind::User { id, email, role } => Ok(Actor {
                id: id.clone(),
                actor_type: "user",
                role: *role,
                label: email.clone(),
            }),
            CallerKind::Agent { id, name, role } => Ok(Actor {
                id: id.clone(),
                actor_type: "agent",
                role: *role,
                label: name.clone(),
            }),
            CallerKind::Scoped { .. } => Err(ApiError::forbidden("Authentication required")),
        }
    }

    /// The actor, who must be an instance owner (403 "Owner role required").
    pub fn owner(&self) -> Result<Actor, ApiError> {
        let actor = self.actor()?;
        if actor.is_owner() {
            Ok(actor)
        } else {
            Err(ApiError::forbidden("Owner role required"))
        }
    }

    /// The user behind a login session (403 "User session required" otherwise).
    pub fn user(&self) -> Result<(String, String, InstanceRole), ApiError> {
        match &self.kind {
            CallerKind::User { id, email, role } => Ok((id.clone(), email.clone(), *role)),
            _ => Err(ApiError::forbidden("User session required")),
        }
    }
}

/// The raw token of a request: `Authorization: Bearer <t>`, else the `av_session` cookie.
pub fn request_token(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get_all(axum::http::header::COOKIE);
    let raw = token::from_request(
        headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.as_bytes()),
        cookies.iter().map(|v| v.as_bytes()),
    )?;
    std::str::from_utf8(raw).ok().map(str::to_owned)
}

/// The value of a cookie.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .find_map(|v| token::cookie(v.as_bytes(), name))
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::to_owned)
}

/// Resolves a raw token. Errors are the reference's 401s.
pub fn resolve(conn: &Connection, raw: &str) -> Result<Caller, ApiError> {
    let session_id = token::hash(raw);
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    // Every authenticated request runs these: cached statements skip re-parsing the SQL.
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT expires_at, user_id, agent_id, vault_id, vault_role FROM sessions WHERE id = ?1",
        )?
        .query_row([&session_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((expires_at, user_id, agent_id, vault_id, vault_role)) = row else {
        return Err(ApiError::unauthorized("Invalid or expired session"));
    };
    if expires_at.is_some_and(|e| e <= time::now()) {
        return Err(ApiError::unauthorized("Session expired"));
    }
    let invalid = || ApiError::unauthorized("Invalid or expired session");
    let kind = if let Some(uid) = user_id {
        let (email, role): (String, String) = conn
            .prepare_cached("SELECT email, role FROM users WHERE id = ?1 AND is_active = 1")?
            .query_row([&uid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .ok_or_else(invalid)?;
        CallerKind::User {
            id: uid,
            email,
            role: role.parse().unwrap_or(InstanceRole::Member),
        }
    } else if let Some(aid) = agent_id {
        let (name, role): (String, String) = conn
            .prepare_cached("SELECT name, role FROM agents WHERE id = ?1 AND status = 'active'")?
            .query_row([&aid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .ok_or_else(invalid)?;
        CallerKind::Agent {
            id: aid,
            name,
            role: role.parse().unwrap_or(InstanceRole::Member),
        }
    } else if let (Some(vid), Some(role)) = (vault_id, vault_role) {
        CallerKind::Scoped {
            vault_id: vid,
            role: role.parse().unwrap_or(VaultRole::Proxy),
        }
    } else {
        return Err(invalid());
    };
    Ok(Caller { session_id, kind })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let raw = request_token(&parts.headers)
            .ok_or_else(|| ApiError::unauthorized("Authorization required"))?;
        let conn = state.store.conn()?;
        resolve(&conn, &raw)
    }
}

/// Creates a session row and returns the raw token. `expires_in` is in seconds (`None`: never).
pub fn create_session(
    conn: &Connection,
    user_id: Option<&str>,
    agent_id: Option<&str>,
    scope: Option<(&str, VaultRole)>,
    expires_in: Option<i64>,
) -> rusqlite::Result<(String, Option<String>)> {
    let minted = token::mint(if agent_id.is_some() {
        token::AGENT
    } else {
        token::SESSION
    });
    let expires_at = expires_in.map(time::in_seconds);
    conn.prepare_cached(
        "INSERT INTO sessions (id, expires_at, created_at, vault_id, user_id, agent_id, vault_role)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        minted.hash,
        expires_at,
        time::now(),
        scope.map(|s| s.0),
        user_id,
        agent_id,
        scope.map(|s| s.1.as_str()),
    ])?;
    Ok((minted.raw, expires_at))
}

/// `Set-Cookie` value for a fresh 24 h login session.
pub fn session_cookie(state: &AppState, raw: &str) -> String {
    let secure = if state.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    format!("{SESSION_COOKIE}={raw}; Path=/; Max-Age=86400; HttpOnly; SameSite=Strict{secure}")
}

/// `Set-Cookie` value that deletes the login cookie.
pub fn clear_cookie(state: &AppState) -> String {
    let secure = if state.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn token_from_bearer_or_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(request_token(&h), None);
        h.insert(
            "cookie",
            HeaderValue::from_static("a=1; av_session=av_sess_x"),
        );
        assert_eq!(request_token(&h).as_deref(), Some("av_sess_x"));
        h.insert("authorization", HeaderValue::from_static("Bearer av_agt_y"));
        assert_eq!(request_token(&h).as_deref(), Some("av_agt_y"));
        h.insert("authorization", HeaderValue::from_static("bearer av_agt_y"));
        assert_eq!(request_token(&h).as_deref(), Some("av_sess_x"));
    }
}

//! The authorization model (reference §4.3 with DESIGN §6 fixes), in one place.
//!
//! Instance roles `owner`/`member` say what an actor may do across the instance (owners have
//! no implicit vault access). Vault roles `proxy` < `member` < `admin` say what it may do in a
//! vault. Scoped sessions act only in their own vault, capped at their role.

use axum::http::{HeaderMap, StatusCode};
use rusqlite::{Connection, OptionalExtension};

use av_store::roles::VaultRole;

use crate::caller::{Actor, Caller, CallerKind};
use crate::error::ApiError;

/// A vault row.
#[derive(Clone, Debug)]
pub struct Vault {
    /// UUID.
    pub id: String,
    /// Slug name.
    pub name: String,
    /// Stored creation time.
    pub created_at: String,
}

/// Looks a vault up by name.
pub fn find_vault(conn: &Connection, name: &str) -> rusqlite::Result<Option<Vault>> {
    conn.query_row(
        "SELECT id, name, created_at FROM vaults WHERE name = ?1",
        [name],
        |r| {
            Ok(Vault {
                id: r.get(0)?,
                name: r.get(1)?,
                created_at: r.get(2)?,
            })
        },
    )
    .optional()
}

/// Looks a vault up by id.
pub fn find_vault_by_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<Vault>> {
    conn.query_row(
        "SELECT id, name, created_at FROM vaults WHERE id = ?1",
        [id],
        |r| {
            Ok(Vault {
                id: r.get(0)?,
                name: r.get(1)?,
                created_at: r.get(2)?,
            })
        },
    )
    .optional()
}

/// Looks a vault up by name or answers `404 "Vault \"<name>\" not found"`.
pub fn vault_or_404(conn: &Connection, name: &str) -> Result<Vault, ApiError> {
    find_vault(conn, name)?.ok_or_else(|| ApiError::not_found(format!("Vault {name:?} not found")))
}

/// The grant role of an actor in a vault, if any.
pub fn grant_role(
    conn: &Connection,
    actor_id: &str,
    vault_id: &str,
) -> rusqlite::Result<Option<VaultRole>> {
    let role: Option<String> = conn
        .query_row(
            "SELECT role FROM vault_grants WHERE actor_id = ?1 AND vault_id = ?2",
            [actor_id, vault_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(role.map(|r| r.parse().unwrap_or(VaultRole::Proxy)))
}

/// Any access to vault `v` (proxy is enough). Returns the caller's role there.
pub fn vault_access(conn: &Connection, caller: &Caller, v: &Vault) -> Result<VaultRole, ApiError> {
    match &caller.kind {
        CallerKind::Scoped { vault_id, role } => {
            if *vault_id == v.id {
                Ok(*role)
            } else {
                Err(ApiError::forbidden("Session not authorized for this vault"))
            }
        }
        _ => {
            let actor = caller
                .actor()
                .map_err(|_| ApiError::forbidden("Invalid session"))?;
            grant_role(conn, &actor.id, &v.id)?
                .ok_or_else(|| ApiError::forbidden("No access to this vault"))
        }
    }
}

/// Role `member` or above in vault `v` (403 "Member role required" for proxy).
pub fn vault_member(conn: &Connection, caller: &Caller, v: &Vault) -> Result<VaultRole, ApiError> {
    let role = vault_access(conn, caller, v)?;
    if role >= VaultRole::Member {
        Ok(role)
    } else {
        Err(ApiError::forbidden("Member role required"))
    }
}

/// Role `admin` in vault `v` (403 "Vault admin role required").
pub fn vault_admin(conn: &Connection, caller: &Caller, v: &Vault) -> Result<VaultRole, ApiError> {
    let role = vault_access(conn, caller, v)?;
    if role == VaultRole::Admin {
        Ok(role)
    } else {
        Err(ApiError::forbidden("Vault admin role required"))
    }
}

/// Who may approve or reject proposals: vault `member` or `admin` (DESIGN §6 fix 4; `proxy`
/// never approves, whether a scoped session or an actor).
pub fn proposal_review(
    conn: &Connection,
    caller: &Caller,
    v: &Vault,
) -> Result<VaultRole, ApiError> {
    let role = vault_access(conn, caller, v)?;
    if role >= VaultRole::Member {
        Ok(role)
    } else {
        Err(ApiError::forbidden("Member role required"))
    }
}

/// Vault admin or instance owner (vault delete/rename).
pub fn vault_admin_or_owner(
    conn: &Connection,
    caller: &Caller,
    v: &Vault,
) -> Result<Actor, ApiError> {
    let actor = caller.actor()?;
    if actor.is_owner() || grant_role(conn, &actor.id, &v.id)? == Some(VaultRole::Admin) {
        Ok(actor)
    } else {
        Err(ApiError::forbidden(
            "Vault admin or instance owner required",
        ))
    }
}

/// The vault an agent-facing request targets (reference §4.4, DESIGN fix 6): a scoped
/// session's own vault (`X-Vault` ignored); an agent token's `X-Vault` vault, which it must
/// have a grant on; user login sessions are refused.
pub fn agent_vault(
    conn: &Connection,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<(Vault, VaultRole), ApiError> {
    match &caller.kind {
        CallerKind::Scoped { vault_id, role } => {
            let v = find_vault_by_id(conn, vault_id)?.ok_or_else(|| {
                ApiError::Plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Failed to resolve vault".into(),
                )
            })?;
            Ok((v, *role))
        }
        CallerKind::User { .. } => Err(ApiError::forbidden("Session requires vault scope")),
        CallerKind::Agent { id, .. } => {
            let name = headers
                .get("x-vault")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Agent tokens require X-Vault header to specify which vault to use",
                    )
                })?;
            let v = find_vault(conn, name)?
                .ok_or_else(|| ApiError::not_found(format!("Vault not found: {name}")))?;
            let role = grant_role(conn, id, &v.id)?.ok_or_else(|| {
                ApiError::forbidden(format!("Agent does not have access to vault: {name}"))
            })?;
            Ok((v, role))
        }
    }
}

/// Active owners, users and agents together (for last-owner protection).
pub fn count_owners(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT (SELECT COUNT(*) FROM users WHERE role = 'owner' AND is_active = 1)
              + (SELECT COUNT(*) FROM agents WHERE role = 'owner' AND status = 'active')",
        [],
        |r| r.get(0),
    )
}

/// Admins of a vault, users and agents together (for last-admin protection).
pub fn count_vault_admins(conn: &Connection, vault_id: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM vault_grants WHERE vault_id = ?1 AND role = 'admin'",
        [vault_id],
        |r| r.get(0),
    )
}

/// Grants (or changes) an actor's role in a vault.
pub fn upsert_grant(
    conn: &Connection,
    actor: (&str, &str),
    vault_id: &str,
    role: VaultRole,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO vault_grants (actor_id, actor_type, vault_id, role, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(actor_id, vault_id) DO UPDATE SET role = excluded.role",
        rusqlite::params![
            actor.0,
            actor.1,
            vault_id,
            role.as_str(),
            av_store::time::now()
        ],
    )?;
    Ok(())
}

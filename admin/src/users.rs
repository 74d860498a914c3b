//! User rows, shared by registration, invite acceptance and the server's first-owner prompt.

use rusqlite::{params, Connection};

use av_store::crypto::{self, PasswordHash};
use av_store::roles::{InstanceRole, VaultRole};
use av_store::{new_id, time, DEFAULT_VAULT_ID};

use crate::authz::upsert_grant;

/// Inserts a user with an already computed password hash; returns the new id.
pub fn create_user(
    conn: &Connection,
    email: &str,
    hash: &PasswordHash,
    role: InstanceRole,
    active: bool,
) -> rusqlite::Result<String> {
    let id = new_id();
    let now = time::now();
    conn.execute(
        "INSERT INTO users (id, email, password_hash, password_salt, role, kdf_time, kdf_memory,
                            kdf_threads, is_active, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![
            id,
            email,
            hash.hash,
            hash.salt,
            role.as_str(),
            hash.params.time,
            hash.params.memory,
            hash.params.threads,
            active,
            now
        ],
    )?;
    Ok(id)
}

/// Creates the first owner: active, instance owner, admin of `default`. Hashes the password
/// (slow; call off the async runtime). Returns the user id.
pub fn create_first_owner(
    conn: &Connection,
    email: &str,
    password: &str,
) -> Result<String, av_store::Error> {
    let hash = crypto::hash_password(password)?;
    let id = create_user(conn, email, &hash, InstanceRole::Owner, true)?;
    upsert_grant(conn, (&id, "user"), DEFAULT_VAULT_ID, VaultRole::Admin)?;
    Ok(id)
}

//! What the CLI keeps on disk under `~/.agent-vault/` (mode 0700): the login
//! (`session.json`, 0600), the active vault (`context`), and the project binding
//! `./agent-vault.json`; plus the resolution orders for the server address and the vault.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The default admin address.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:14321";

/// The saved login.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedSession {
    /// Raw `av_sess_` login token.
    pub token: String,
    /// Admin base URL it belongs to.
    pub address: String,
}

/// `$HOME/.agent-vault`.
pub fn dir() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".agent-vault")
}

fn ensure_dir() -> Result<PathBuf> {
    let d = dir();
    if !d.exists() {
        fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700))?;
    }
    Ok(d)
}

/// Writes a file with mode 0600 (replacing it).
pub fn write_private(path: &std::path::Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(contents)?;
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The saved login, if any.
pub fn load_session() -> Option<SavedSession> {
    let text = fs::read_to_string(dir().join("session.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Saves the login (0600).
pub fn save_session(s: &SavedSession) -> Result<()> {
    let d = ensure_dir()?;
    write_private(&d.join("session.json"), &serde_json::to_vec_pretty(s)?)
}

/// Forgets the login.
pub fn clear_session() {
    let _ = fs::remove_file(dir().join("session.json"));
}

/// The active vault set by `vault use`.
pub fn context_vault() -> Option<String> {
    let v = fs::read_to_string(dir().join("context")).ok()?;
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// Sets the active vault.
pub fn set_context_vault(name: &str) -> Result<()> {
    let d = ensure_dir()?;
    write_private(&d.join("context"), name.as_bytes())
}

/// The vault bound in `./agent-vault.json`, if any.
pub fn project_vault() -> Option<String> {
    let text = fs::read_to_string("agent-vault.json").ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("vault")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Standard vault resolution: `--vault` > `AGENT_VAULT_VAULT` > `./agent-vault.json` >
/// `vault use` context > `default`.
pub fn resolve_vault(flag: Option<&str>) -> String {
    flag.filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| {
            std::env::var("AGENT_VAULT_VAULT")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .or_else(project_vault)
        .or_else(context_vault)
        .unwrap_or_else(|| "default".to_string())
}

/// Server address: `--address` > `AGENT_VAULT_ADDR` > saved login > the local default.
pub fn resolve_address(flag: Option<&str>) -> String {
    known_address(flag).unwrap_or_else(|| DEFAULT_ADDRESS.to_string())
}

/// The server address the user has given somewhere (`--address`, `AGENT_VAULT_ADDR`, the
/// saved login), without a trailing `/`.
pub fn known_address(flag: Option<&str>) -> Option<String> {
    flag.filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| {
            std::env::var("AGENT_VAULT_ADDR")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .or_else(|| load_session().map(|s| s.address))
        .map(|a| a.trim_end_matches('/').to_string())
}

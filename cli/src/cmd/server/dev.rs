//! `agent-vault server --dev`: a throwaway instance to try Agent Vault in one command, in the
//! spirit of `vault server -dev`. It uses a fresh temporary data directory and a generated
//! master password, creates an owner account, logs the CLI in as that owner, prints all of it,
//! and deletes the directory when it stops.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use zeroize::Zeroizing;

use av_store::token;

use super::{runtime, Mode};
use crate::config::Settings;
use crate::state::{self, SavedSession};

const OWNER_EMAIL: &str = "owner@agent-vault.dev";
const LOGIN_TTL_SECONDS: i64 = 24 * 60 * 60;

/// Creates an empty private directory under the system temp dir.
pub fn temp_data_dir() -> Result<PathBuf> {
    let name = format!("agent-vault-dev-{}", &token::mint("").raw[..16]);
    let dir = std::env::temp_dir().join(name);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    Ok(dir)
}

/// Sets the instance up and serves it until stopped.
pub fn run(mut settings: Settings, mode: Mode) -> Result<()> {
    settings.dev_mode = true;
    let dir = settings.data_dir.clone();
    let master = Zeroizing::new(token::mint("").raw[..32].to_string());
    let owner_password = Zeroizing::new(token::mint("").raw[..20].to_string());
    let store = super::open_store(&settings)?;
    let key = super::unlock_with(&store, master.as_bytes())?;
    let login = store.write(|tx| {
        let id = av_admin::users::create_first_owner(tx, OWNER_EMAIL, &owner_password)?;
        let (raw, _) =
            av_admin::caller::create_session(tx, Some(&id), None, None, Some(LOGIN_TTL_SECONDS))
                .map_err(av_store::Error::from)?;
        Ok::<_, av_store::Error>(Zeroizing::new(raw))
    })?;
    state::save_session(&SavedSession {
        token: login.to_string(),
        address: settings.admin_base_url.clone(),
    })?;
    println!("Agent Vault is running in dev mode: a throwaway instance, deleted when it stops.");
    println!();
    println!("  Admin API:        {}", settings.admin_base_url);
    println!("  Proxy:            {}/proxy", settings.proxy_base_url);
    println!("  Data directory:   {}", dir.display());
    println!("  Master password:  {}", master.as_str());
    println!("  Owner email:      {OWNER_EMAIL}");
    println!("  Owner password:   {}", owner_password.as_str());
    println!();
    println!(
        "The CLI is logged in as the owner ({}). Try:",
        state::dir().join("session.json").display()
    );
    println!("  agent-vault vault list");
    println!("  agent-vault vault credential set GITHUB_TOKEN=ghp_example");
    println!("  agent-vault agent invite my-agent");
    println!("  agent-vault vault run -- <your agent command>");
    println!();
    let cleanup_dir = dir.clone();
    let cleanup: runtime::Cleanup = Box::new(move || {
        let _ = fs::remove_dir_all(&cleanup_dir);
    });
    runtime::serve(settings, store, Arc::new(key), mode, Some(cleanup))
}

//! First-run setup (reference §5.3 `ensureSession`): when an authenticated command finds no
//! saved login and a person is at the terminal, it connects to a server and logs in (or
//! creates the account, the instance owner on a new server) right there, then carries on,
//! instead of sending a new user off to `auth register` and `auth login` first. Without a
//! terminal nothing is asked, so scripts keep the plain "not logged in" error.
//!
//! It reuses the `auth` command's prompts and requests, and saves the session the same way.
//! Everything it prints goes to stderr, so the command's own output stays clean.

use anyhow::{bail, Result};

use crate::client::Client;
use crate::cmd::auth;
use crate::config;
use crate::prompt;
use crate::state::{self, SavedSession};

/// Asks where the server is, logs in or creates the account, and returns the saved session.
pub fn run() -> Result<SavedSession> {
    eprintln!("You are not logged in to Agent Vault yet; let's connect to a server.");
    let address = hosting()?;
    let api = Client::anonymous(&address);
    let status = api.get("/v1/status")?;
    let new_account = if status["needs_first_user"] == true {
        eprintln!("This server has no accounts yet. Create the owner account:");
        true
    } else {
        let choices = ["Log in", "Create account"];
        prompt::choose("Do you have an account on this server?", &choices, 0)? == 1
    };
    let (email, password) = if new_account {
        create_account(&api)?
    } else {
        (auth::ask_email()?, prompt::password("Password: ")?)
    };
    let saved = auth::log_in(&address, &email, &password)?;
    eprintln!("✓ Logged in as {email}.");
    Ok(saved)
}

/// The local server or a custom `http(s)://` URL, without a trailing `/`.
pub fn hosting() -> Result<String> {
    let local = format!("Local server ({})", state::DEFAULT_ADDRESS);
    if prompt::choose(
        "Where is your Agent Vault server?",
        &[&local, "Custom URL"],
        0,
    )? == 0
    {
        return Ok(state::DEFAULT_ADDRESS.to_string());
    }
    let url = prompt::line("Server URL (http:// or https://): ")?;
    let url = url.trim().trim_end_matches('/');
    if !config::is_http_url(url) {
        bail!("invalid server URL {url:?}: it must start with http:// or https://");
    }
    Ok(url.to_string())
}

/// Registers an account and returns its email and password; an account that must be
/// verified first ends the setup.
fn create_account(api: &Client) -> Result<(String, String)> {
    let email = auth::ask_email()?;
    let password = auth::ask_new_password()?;
    let (message, needs_verification) = auth::create_account(api, &email, &password)?;
    if needs_verification {
        eprintln!("{message}");
        bail!(
            "verify the account with 'agent-vault auth verify --email {email} --code <code> \
             --address {}', then run this command again",
            api.address
        );
    }
    eprintln!("✓ {message}");
    Ok((email, password))
}

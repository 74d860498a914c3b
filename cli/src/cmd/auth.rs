//! `agent-vault auth register|verify|login|logout`: creating an account and keeping the login
//! in `~/.agent-vault/session.json`. Passwords come from a hidden prompt or the first line of
//! stdin (`--password-stdin`), never from a flag.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::client::{self, Client};
use crate::output;
use crate::prompt;
use crate::state::{self, SavedSession};

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum AuthCmd {
    /// Create an account (the first account becomes the instance owner).
    Register(Creds),
    /// Verify a new account with the code from the server log or email.
    Verify {
        /// Server address (default: AGENT_VAULT_ADDR, the saved login, then the local server).
        #[arg(long)]
        address: Option<String>,
        /// Account email.
        #[arg(long)]
        email: String,
        /// The six-digit verification code.
        #[arg(long)]
        code: String,
    },
    /// Log in and save the session.
    Login(Creds),
    /// Log out and forget the saved session.
    Logout,
}

/// Flags shared by register and login.
#[derive(Args, Debug)]
pub struct Creds {
    /// Server address (default: AGENT_VAULT_ADDR, the saved login, then the local server).
    #[arg(long)]
    address: Option<String>,
    /// Account email (prompted when omitted).
    #[arg(long)]
    email: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    password_stdin: bool,
}

impl Creds {
    fn email(&self) -> Result<String> {
        let email = match &self.email {
            Some(e) => e.trim().to_string(),
            None if self.password_stdin => bail!("--email is required with --password-stdin"),
            None => prompt::line("Email: ")?.trim().to_string(),
        };
        if email.is_empty() {
            bail!("email is required");
        }
        if !email.contains('@') {
            bail!("invalid email address {email:?}");
        }
        Ok(email)
    }
}

/// Runs a subcommand.
pub fn run(cmd: AuthCmd) -> Result<()> {
    match cmd {
        AuthCmd::Register(c) => register(c),
        AuthCmd::Verify {
            address,
            email,
            code,
        } => verify(
            &Client::anonymous(&state::resolve_address(address.as_deref())),
            &email,
            &code,
        ),
        AuthCmd::Login(c) => login(c),
        AuthCmd::Logout => logout(),
    }
}

fn login(c: Creds) -> Result<()> {
    let address = state::resolve_address(c.address.as_deref());
    let email = c.email()?;
    let password = if c.password_stdin {
        prompt::stdin_line()?
    } else {
        prompt::password("Password: ")?
    };
    let api = Client::anonymous(&address);
    let (status, body) = api.send(
        "POST",
        "/v1/auth/login",
        Some(&json!({ "email": email, "password": password })),
        &[],
    )?;
    if status == 401 {
        bail!("invalid email or password");
    }
    if status >= 400 {
        bail!("{}", client::error_message(status, &body));
    }
    let token = output::s(&body, "token");
    if token.is_empty() {
        bail!("the server did not return a session token");
    }
    state::save_session(&SavedSession {
        token: token.to_string(),
        address,
    })?;
    output::success("Login successful.");
    Ok(())
}

fn register(c: Creds) -> Result<()> {
    let address = state::resolve_address(c.address.as_deref());
    let email = c.email()?;
    let password = if c.password_stdin {
        prompt::stdin_line()?
    } else {
        let p = prompt::password("Password: ")?;
        if p.len() >= 8 && prompt::password("Confirm password: ")? != p {
            bail!("passwords do not match");
        }
        p
    };
    if password.len() < 8 {
        bail!("password must be at least 8 characters");
    }
    let api = Client::anonymous(&address);
    let body = api.post(
        "/v1/auth/register",
        &json!({ "email": email, "password": password }),
    )?;
    let message = output::s(&body, "message");
    if body.get("requires_verification").and_then(|v| v.as_bool()) != Some(true) {
        output::success(message);
        return Ok(());
    }
    println!("{message}");
    if c.password_stdin || !prompt::stdin_is_tty() {
        println!(
            "Then run: agent-vault auth verify --email {email} --code <code> --address {address}"
        );
        return Ok(());
    }
    let code = prompt::line("Verification code: ")?;
    verify(&api, &email, code.trim())
}

fn verify(api: &Client, email: &str, code: &str) -> Result<()> {
    api.post("/v1/auth/verify", &json!({ "email": email, "code": code }))?;
    output::success("Account verified. Log in with 'agent-vault auth login'.");
    Ok(())
}

fn logout() -> Result<()> {
    if let Some(saved) = state::load_session() {
        // Best effort: the local login is forgotten even when the server is unreachable.
        let _ =
            Client::with_token(&saved.address, &saved.token).post("/v1/auth/logout", &json!({}));
    }
    state::clear_session();
    output::success("Logged out.");
    Ok(())
}

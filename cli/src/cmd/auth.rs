//! `agent-vault auth register|verify|login|logout`: creating an account and keeping the login
//! in `~/.agent-vault/session.json`. Passwords come from a hidden prompt or the first line of
//! stdin (`--password-stdin`), never from a flag.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::client::{self, Client};
use crate::output;
use crate::prompt;
use crate::setup;
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
        match &self.email {
            Some(e) => check_email(e),
            None if self.password_stdin => bail!("--email is required with --password-stdin"),
            None => ask_email(),
        }
    }
}

/// Prompts for an account email and checks it.
pub fn ask_email() -> Result<String> {
    check_email(&prompt::line("Email: ")?)
}

fn check_email(raw: &str) -> Result<String> {
    let email = raw.trim().to_string();
    if email.is_empty() {
        bail!("email is required");
    }
    if !email.contains('@') {
        bail!("invalid email address {email:?}");
    }
    Ok(email)
}

/// Prompts for a new account password (hidden) and its confirmation.
pub fn ask_new_password() -> Result<String> {
    let password = check_new_password(prompt::password("Password: ")?)?;
    if prompt::password("Confirm password: ")? != password {
        bail!("passwords do not match");
    }
    Ok(password)
}

fn check_new_password(password: String) -> Result<String> {
    if password.len() < 8 {
        bail!("password must be at least 8 characters");
    }
    Ok(password)
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
    // With no address given anywhere, a person at a terminal picks the server (§5.3).
    let address = match state::known_address(c.address.as_deref()) {
        Some(address) => address,
        None if !c.password_stdin && prompt::stdin_is_tty() => setup::hosting()?,
        None => state::DEFAULT_ADDRESS.to_string(),
    };
    let email = c.email()?;
    let password = if c.password_stdin {
        prompt::stdin_line()?
    } else {
        prompt::password("Password: ")?
    };
    log_in(&address, &email, &password)?;
    output::success("Login successful.");
    Ok(())
}

/// `POST /v1/auth/login` and save the session in `~/.agent-vault/session.json`.
pub fn log_in(address: &str, email: &str, password: &str) -> Result<SavedSession> {
    let api = Client::anonymous(address);
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
    let saved = SavedSession {
        token: token.to_string(),
        address: api.address,
    };
    state::save_session(&saved)?;
    Ok(saved)
}

fn register(c: Creds) -> Result<()> {
    let address = state::resolve_address(c.address.as_deref());
    let email = c.email()?;
    let password = if c.password_stdin {
        check_new_password(prompt::stdin_line()?)?
    } else {
        ask_new_password()?
    };
    let api = Client::anonymous(&address);
    let (message, needs_verification) = create_account(&api, &email, &password)?;
    if !needs_verification {
        output::success(&message);
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

/// `POST /v1/auth/register`: the server's message and whether the new account must be
/// verified before it can log in (the first account never needs it).
pub fn create_account(api: &Client, email: &str, password: &str) -> Result<(String, bool)> {
    let body = api.post(
        "/v1/auth/register",
        &json!({ "email": email, "password": password }),
    )?;
    let needs_verification =
        body.get("requires_verification").and_then(|v| v.as_bool()) == Some(true);
    Ok((output::s(&body, "message").to_string(), needs_verification))
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

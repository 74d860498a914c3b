//! `agent-vault account whoami|change-password|delete`: the logged-in user's own account.

use anyhow::{bail, Result};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::Client;
use crate::output;
use crate::prompt;
use crate::state::{self, SavedSession};

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum AccountCmd {
    /// Show who you are logged in as.
    Whoami {
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change your password (every other session is logged out).
    ChangePassword {
        /// Read the current and the new password from two lines of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete your account (owners must transfer ownership first).
    Delete {
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// Runs a subcommand.
pub fn run(cmd: AccountCmd) -> Result<()> {
    let api = Client::logged_in(None)?;
    match cmd {
        AccountCmd::Whoami { json } => {
            let me = api.get("/v1/admin/users/me")?;
            if json {
                output::json(&me);
                return Ok(());
            }
            let vaults: Vec<&str> = me["vaults"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            println!("Email:   {}", output::s(&me, "email"));
            println!("Role:    {}", output::s(&me, "role"));
            println!(
                "Vaults:  {}",
                if vaults.is_empty() {
                    "(none)".to_string()
                } else {
                    vaults.join(", ")
                }
            );
            println!("Server:  {}", api.address);
            println!("Created: {}", output::when(&me, "created_at"));
            Ok(())
        }
        AccountCmd::ChangePassword { password_stdin } => {
            let (current, new) = if password_stdin {
                (prompt::stdin_line()?, prompt::stdin_line()?)
            } else {
                let current = prompt::password("Current password: ")?;
                let new = prompt::password("New password: ")?;
                if new.len() >= 8 && prompt::password("Confirm new password: ")? != new {
                    bail!("passwords do not match");
                }
                (current, new)
            };
            if new.len() < 8 {
                bail!("new password must be at least 8 characters");
            }
            let body = api.post(
                "/v1/auth/change-password",
                &json!({ "current_password": current, "new_password": new }),
            )?;
            let token = output::s(&body, "token");
            if !token.is_empty() {
                state::save_session(&SavedSession {
                    token: token.to_string(),
                    address: api.address.clone(),
                })?;
            }
            output::success("Password changed successfully.");
            Ok(())
        }
        AccountCmd::Delete { yes } => {
            if !prompt::confirm_interactive("Delete your account? This cannot be undone.", yes)? {
                bail!("aborted");
            }
            api.delete("/v1/auth/account", None)?;
            state::clear_session();
            output::success("Account deleted.");
            Ok(())
        }
    }
}

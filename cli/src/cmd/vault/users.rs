//! `agent-vault vault user add|list|remove|set-role`: people with direct access to a vault.

use anyhow::{bail, Result};
use clap::Subcommand;
use serde_json::json;

use crate::client::{seg, Client};
use crate::output::{self, Table};
use crate::prompt;
use crate::state;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Give an existing user access to the vault.
    Add {
        /// The user's email.
        email: String,
        /// Vault role: admin or member.
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// List the vault's users and pending invitees.
    List {
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take a user's access to the vault away.
    Remove {
        /// The user's email.
        email: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Change a user's role in the vault.
    SetRole {
        /// The user's email.
        email: String,
        /// New vault role: admin or member.
        #[arg(long)]
        role: String,
    },
}

/// Runs a subcommand.
pub fn run(cmd: UserCmd, vault: Option<&str>) -> Result<()> {
    let v = state::resolve_vault(vault);
    let base = format!("/v1/vaults/{}/users", seg(&v));
    let api = Client::logged_in(None)?;
    match cmd {
        UserCmd::Add { email, role } => {
            let body = api.post(&base, &json!({ "email": email, "role": role }))?;
            output::success(&format!(
                "Added {email} to vault {v} (role: {})",
                output::s(&body, "role")
            ));
        }
        UserCmd::List { json } => {
            let body = api.get(&base)?;
            if json {
                output::json(&body);
                return Ok(());
            }
            let mut t = Table::new(&["EMAIL", "STATUS", "ROLE"]);
            for u in body["users"].as_array().into_iter().flatten() {
                t.row(vec![
                    output::s(u, "email").into(),
                    output::s(u, "status").into(),
                    output::s(u, "role").into(),
                ]);
            }
            if t.is_empty() {
                println!("No users found.");
            } else {
                t.print();
            }
        }
        UserCmd::Remove { email, yes } => {
            if !prompt::confirm_interactive(&format!("Remove {email} from vault {v}?"), yes)? {
                bail!("aborted");
            }
            api.delete(&format!("{base}/{}", seg(&email)), None)?;
            output::success(&format!("Removed {email} from vault {v}"));
        }
        UserCmd::SetRole { email, role } => {
            if !matches!(role.as_str(), "admin" | "member") {
                bail!("role must be 'admin' or 'member'");
            }
            api.post(
                &format!("{base}/{}/role", seg(&email)),
                &json!({ "role": role }),
            )?;
            output::success(&format!("Set role {role} for {email} in vault {v}"));
        }
    }
    Ok(())
}

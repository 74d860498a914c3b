//! `agent-vault owner ...`: instance-owner administration of users, vaults, settings and email,
//! and erasing the instance.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};

use av_store::db::DB_FILE;

use crate::client::{seg, Client};
use crate::config;
use crate::output::{self, Table};
use crate::{prompt, state};

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum OwnerCmd {
    /// Manage any user of the instance.
    User {
        #[command(subcommand)]
        command: OwnerUserCmd,
    },
    /// Manage any vault of the instance.
    Vault {
        #[command(subcommand)]
        command: OwnerVaultCmd,
    },
    /// Instance settings: invite-only mode and allowed email domains.
    #[command(alias = "settings")]
    Config {
        #[command(subcommand)]
        command: OwnerConfigCmd,
    },
    /// Outgoing email.
    Email {
        #[command(subcommand)]
        command: OwnerEmailCmd,
    },
    /// Erase this machine's instance: stop its server, wipe the database, log out.
    Reset {
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// `owner email` subcommands.
#[derive(Subcommand, Debug)]
pub enum OwnerEmailCmd {
    /// Send a test email (to yourself unless --to is given).
    Test {
        /// Recipient address.
        #[arg(long)]
        to: Option<String>,
        /// Server address (default: the saved login's).
        #[arg(long)]
        address: Option<String>,
    },
}

/// `owner user` subcommands.
#[derive(Subcommand, Debug)]
pub enum OwnerUserCmd {
    /// List every user with their vaults.
    List {
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one user.
    Info {
        /// The user's email (`me` for yourself).
        email: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a user from the instance.
    Remove {
        /// The user's email.
        email: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Change a user's instance role.
    SetRole {
        /// The user's email.
        email: String,
        /// owner or member.
        #[arg(long)]
        role: String,
    },
}

/// `owner vault` subcommands.
#[derive(Subcommand, Debug)]
pub enum OwnerVaultCmd {
    /// List every vault of the instance.
    List {
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Join a vault as admin.
    Join {
        /// Vault name.
        name: String,
    },
    /// Delete a vault with everything in it.
    Delete {
        /// Vault name.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// `owner config` subcommands.
#[derive(Subcommand, Debug)]
pub enum OwnerConfigCmd {
    /// Show the instance settings.
    Get {
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change instance settings (only the flags given are changed).
    Set {
        /// Accounts only through invites (`--invite-only=false` to turn off).
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        invite_only: Option<bool>,
        /// Comma-separated signup domains; an empty value lifts the restriction.
        #[arg(long, value_name = "a.com,b.org")]
        allowed_domains: Option<String>,
    },
}

/// Runs a subcommand.
pub fn run(cmd: OwnerCmd) -> Result<()> {
    let address = match &cmd {
        OwnerCmd::Email {
            command: OwnerEmailCmd::Test { address, .. },
        } => address.clone(),
        _ => None,
    };
    let api = Client::logged_in(address.as_deref())?;
    match cmd {
        OwnerCmd::User { command } => user(&api, command),
        OwnerCmd::Vault { command } => vault(&api, command),
        OwnerCmd::Config { command } => config(&api, command),
        OwnerCmd::Email {
            command: OwnerEmailCmd::Test { to, .. },
        } => email_test(&api, to.as_deref()),
        OwnerCmd::Reset { yes } => reset(&api, yes),
    }
}

/// `owner reset`: an owner erases the instance whose data directory is on this machine.
fn reset(api: &Client, yes: bool) -> Result<()> {
    let me = api.get("/v1/admin/users/me")?;
    if me["role"] != "owner" {
        bail!("only an owner can reset the instance");
    }
    if !yes {
        if !prompt::stdin_is_tty() {
            bail!("refusing to reset without confirmation; pass --yes");
        }
        eprintln!("This erases every vault, credential, service, user and agent of this instance.");
        if prompt::line("Type 'reset' to confirm: ")?.trim() != "reset" {
            bail!("reset cancelled");
        }
    }
    let file = match config::config_path(None) {
        Some(p) => Some(config::load_file(&p)?),
        None => None,
    };
    let data_dir = config::data_dir(None, file.as_ref());
    crate::cmd::server::stop_if_running(&data_dir)?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = data_dir.join(format!("{DB_FILE}{suffix}"));
        wipe(&path).with_context(|| format!("cannot erase {}", path.display()))?;
    }
    state::clear_session();
    output::success("Instance reset: its database is erased and you are logged out.");
    println!("Run 'agent-vault server' to start a new instance.");
    Ok(())
}

/// Overwrites a file with zeros, then deletes it; a missing file is fine.
fn wipe(path: &Path) -> std::io::Result<()> {
    let len = match fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    let zeros = [0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    drop(f);
    fs::remove_file(path)
}

fn email_test(api: &Client, to: Option<&str>) -> Result<()> {
    let body = match to {
        Some(to) => json!({ "to": to }),
        None => json!({}),
    };
    let r = api.post("/v1/admin/email/test", &body)?;
    println!(
        "Test email sent to {}",
        r["to"].as_str().unwrap_or_default()
    );
    Ok(())
}

fn user(api: &Client, cmd: OwnerUserCmd) -> Result<()> {
    match cmd {
        OwnerUserCmd::List { json } => crate::cmd::user::list(api, json),
        OwnerUserCmd::Info { email, json } => {
            let u = api.get(&format!("/v1/admin/users/{}", seg(&email)))?;
            if json {
                output::json(&u);
                return Ok(());
            }
            let vaults: Vec<&str> = u["vaults"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().or_else(|| v.get("vault_name")?.as_str()))
                .collect();
            println!("Email:   {}", output::s(&u, "email"));
            println!("Role:    {}", output::s(&u, "role"));
            println!(
                "Vaults:  {}",
                if vaults.is_empty() {
                    "(none)".to_string()
                } else {
                    vaults.join(", ")
                }
            );
            println!("Created: {}", output::when(&u, "created_at"));
            Ok(())
        }
        OwnerUserCmd::Remove { email, yes } => {
            if !prompt::confirm_interactive(&format!("Remove user {email}?"), yes)? {
                bail!("aborted");
            }
            api.delete(&format!("/v1/admin/users/{}", seg(&email)), None)?;
            output::success(&format!("Removed user {email}"));
            Ok(())
        }
        OwnerUserCmd::SetRole { email, role } => {
            if !matches!(role.as_str(), "owner" | "member") {
                bail!("role must be 'owner' or 'member'");
            }
            api.post(
                &format!("/v1/admin/users/{}/role", seg(&email)),
                &json!({ "role": role }),
            )?;
            output::success(&format!("Set role {role} for {email}"));
            Ok(())
        }
    }
}

fn vault(api: &Client, cmd: OwnerVaultCmd) -> Result<()> {
    match cmd {
        OwnerVaultCmd::List { json } => {
            let body = api.get("/v1/admin/vaults")?;
            if json {
                output::json(&body);
                return Ok(());
            }
            let mut t = Table::new(&["ID", "NAME", "CREATED"]);
            for v in body["vaults"].as_array().into_iter().flatten() {
                t.row(vec![
                    output::s(v, "id").into(),
                    output::s(v, "name").into(),
                    output::when(v, "created_at"),
                ]);
            }
            if t.is_empty() {
                println!("No vaults found.");
            } else {
                t.print();
            }
            Ok(())
        }
        OwnerVaultCmd::Join { name } => {
            api.post(&format!("/v1/vaults/{}/join", seg(&name)), &json!({}))?;
            output::success(&format!("Joined vault {name:?} as admin"));
            Ok(())
        }
        OwnerVaultCmd::Delete { name, yes } => {
            if !yes
                && !prompt::confirm(
                    &format!("Delete vault {name:?} with all its credentials?"),
                    false,
                )?
            {
                bail!("aborted (pass --yes to delete without a prompt)");
            }
            api.delete(&format!("/v1/vaults/{}", seg(&name)), None)?;
            output::success(&format!("Deleted vault {name:?}"));
            Ok(())
        }
    }
}

fn print_settings(s: &Value) {
    let domains: Vec<&str> = s["allowed_email_domains"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    println!(
        "invite_only: {}",
        if s["invite_only"] == true {
            "enabled"
        } else {
            "disabled"
        }
    );
    println!(
        "allowed_email_domains: {}",
        if domains.is_empty() {
            "(unrestricted)".to_string()
        } else {
            domains.join(", ")
        }
    );
}

fn config(api: &Client, cmd: OwnerConfigCmd) -> Result<()> {
    match cmd {
        OwnerConfigCmd::Get { json } => {
            let s = api.get("/v1/admin/settings")?;
            if json {
                output::json(&s);
            } else {
                print_settings(&s);
            }
            Ok(())
        }
        OwnerConfigCmd::Set {
            invite_only,
            allowed_domains,
        } => {
            let mut req = json!({});
            if let Some(i) = invite_only {
                req["invite_only"] = json!(i);
            }
            if let Some(d) = &allowed_domains {
                let list: Vec<&str> = d
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                req["allowed_email_domains"] = json!(list);
            }
            if req.as_object().is_some_and(|o| o.is_empty()) {
                bail!("nothing to change; pass --invite-only and/or --allowed-domains");
            }
            let s = api.put("/v1/admin/settings", &req)?;
            output::success("Settings updated.");
            print_settings(&s);
            Ok(())
        }
    }
}

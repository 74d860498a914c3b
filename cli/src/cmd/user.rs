//! `agent-vault user list|invite|invite list|invite revoke`: the instance's people and the
//! invites that bring new ones in (with vault pre-assignments).

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::{seg, Client};
use crate::output::{self, Table};
use crate::prompt;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// List the instance's users.
    List {
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Invite someone by email (or manage invites: `invite list`, `invite revoke`).
    Invite(InviteArgs),
}

/// `user invite <email>` or one of its subcommands.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct InviteArgs {
    #[command(subcommand)]
    command: Option<InviteCmd>,
    /// Email to invite.
    #[arg(required = true)]
    email: Option<String>,
    /// Instance role: owner or member.
    #[arg(long, default_value = "member")]
    role: String,
    /// Pre-assign a vault as NAME or NAME:ROLE (role admin or member; repeatable).
    #[arg(long = "vault", value_name = "NAME[:ROLE]")]
    vaults: Vec<String>,
    /// Print the server's JSON.
    #[arg(long)]
    json: bool,
}

/// `user invite` subcommands.
#[derive(Subcommand, Debug)]
pub enum InviteCmd {
    /// List invites you can manage.
    List {
        /// Only invites with this status (pending, accepted, revoked, expired).
        #[arg(long)]
        status: Option<String>,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a pending invite by its full token or its last 8+ characters.
    Revoke {
        /// The token, or its suffix as shown by `user invite list`.
        token_suffix: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// Runs a subcommand.
pub fn run(cmd: UserCmd) -> Result<()> {
    let api = Client::logged_in(None)?;
    match cmd {
        UserCmd::List { json } => list(&api, json),
        UserCmd::Invite(args) => match args.command {
            Some(InviteCmd::List { status, json }) => invite_list(&api, status, json),
            Some(InviteCmd::Revoke { token_suffix, yes }) => {
                if !prompt::confirm_interactive(&format!("Revoke invite {token_suffix}?"), yes)? {
                    bail!("aborted");
                }
                api.delete(&format!("/v1/users/invites/{}", seg(&token_suffix)), None)?;
                output::success("Invite revoked.");
                Ok(())
            }
            None => invite(&api, args),
        },
    }
}

/// Prints the instance's users (with their vaults when the server shows them: owners).
pub fn list(api: &Client, json: bool) -> Result<()> {
    let body = api.get("/v1/users")?;
    if json {
        output::json(&body);
        return Ok(());
    }
    let users: Vec<&Value> = body["users"].as_array().into_iter().flatten().collect();
    if users.is_empty() {
        println!("No users found.");
        return Ok(());
    }
    let with_vaults = users.iter().any(|u| u.get("vaults").is_some());
    let mut t = if with_vaults {
        Table::new(&["EMAIL", "ROLE", "VAULTS", "CREATED"])
    } else {
        Table::new(&["EMAIL", "ROLE", "CREATED"])
    };
    for u in users {
        let mut row = vec![output::s(u, "email").into(), output::s(u, "role").into()];
        if with_vaults {
            row.push(output::grants(&u["vaults"], |n, r| format!("{n}({r})")));
        }
        row.push(output::when(u, "created_at"));
        t.row(row);
    }
    t.print();
    Ok(())
}

fn invite(api: &Client, args: InviteArgs) -> Result<()> {
    let Some(email) = args.email else {
        bail!("an email to invite is required");
    };
    if !matches!(args.role.as_str(), "owner" | "member") {
        bail!("role must be 'owner' or 'member'");
    }
    let mut vaults = Vec::new();
    for spec in &args.vaults {
        let (name, role) = spec.split_once(':').unwrap_or((spec, "member"));
        if name.is_empty() {
            bail!("invalid --vault {spec:?}, expected NAME or NAME:ROLE");
        }
        vaults.push(json!({ "vault_name": name, "vault_role": role }));
    }
    let mut req = json!({ "email": email, "vaults": vaults });
    if args.role != "member" {
        req["role"] = json!(args.role);
    }
    let body = api.post("/v1/users/invites", &req)?;
    if args.json {
        output::json(&body);
        return Ok(());
    }
    if body["email_sent"] == true {
        output::success(&format!("Invitation sent to {email}"));
    } else {
        output::success(&format!("Invite created for {email}"));
        println!("Share this link: {}", output::s(&body, "invite_link"));
    }
    Ok(())
}

fn invite_list(api: &Client, status: Option<String>, json: bool) -> Result<()> {
    let path = match status.filter(|s| !s.is_empty()) {
        Some(s) => format!("/v1/users/invites?status={}", seg(&s)),
        None => "/v1/users/invites".into(),
    };
    let body = api.get(&path)?;
    if json {
        output::json(&body);
        return Ok(());
    }
    let mut t = Table::new(&[
        "EMAIL",
        "ROLE",
        "STATUS",
        "VAULTS",
        "INVITED BY",
        "TOKEN",
        "CREATED",
        "EXPIRES",
    ]);
    for i in body["invites"].as_array().into_iter().flatten() {
        t.row(vec![
            output::s(i, "email").into(),
            output::s(i, "role").into(),
            output::s(i, "status").into(),
            output::grants(&i["vaults"], |n, r| format!("{n}({r})")),
            output::s(i, "created_by").into(),
            format!("…{}", output::s(i, "token_suffix")),
            output::when(i, "created_at"),
            output::when(i, "expires_at"),
        ]);
    }
    if t.is_empty() {
        println!("No invites found.");
    } else {
        t.print();
    }
    Ok(())
}

//! `agent-vault vault ...`: everything that acts on one vault. `--vault` applies to every
//! subcommand; otherwise the standard resolution order picks the vault.

mod agents;
mod core;
mod credentials;
mod proposals;
mod services;
mod session;
mod users;

use anyhow::Result;
use clap::{Args, Subcommand};

/// `vault` and its global `--vault` flag.
#[derive(Args, Debug)]
pub struct VaultArgs {
    /// The vault to act on (default: AGENT_VAULT_VAULT, ./agent-vault.json, `vault use`, then "default").
    #[arg(long, global = true)]
    pub vault: Option<String>,
    #[command(subcommand)]
    pub command: VaultCmd,
}

/// Vault subcommands.
#[derive(Subcommand, Debug)]
pub enum VaultCmd {
    #[command(flatten)]
    Core(core::CoreCmd),
    /// People with access to the vault.
    User {
        #[command(subcommand)]
        command: users::UserCmd,
    },
    /// Credentials stored in the vault.
    #[command(alias = "creds")]
    Credential {
        #[command(subcommand)]
        command: credentials::CredentialCmd,
    },
    /// Service rules: which hosts get which credentials.
    Service {
        #[command(subcommand)]
        command: services::ServiceCmd,
    },
    /// Agents with access to the vault.
    Agent {
        #[command(subcommand)]
        command: agents::AgentCmd,
    },
    #[command(flatten)]
    Session(session::SessionCmd),
    /// Proposals raised by agents.
    Proposal {
        #[command(subcommand)]
        command: proposals::ProposalCmd,
    },
}

/// Runs a vault subcommand.
pub fn run(args: VaultArgs) -> Result<()> {
    let vault = args.vault.as_deref();
    match args.command {
        VaultCmd::Core(c) => core::run(c, vault),
        VaultCmd::User { command } => users::run(command, vault),
        VaultCmd::Credential { command } => credentials::run(command, vault),
        VaultCmd::Service { command } => services::run(command, vault),
        VaultCmd::Agent { command } => agents::run(command, vault),
        VaultCmd::Session(c) => session::run(c, vault),
        VaultCmd::Proposal { command } => proposals::run(command, vault),
    }
}

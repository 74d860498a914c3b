//! `agent-vault`: runs the server (`agent-vault server`) and, for every other command, acts
//! as a client of the admin API.

mod client;
mod cmd;
mod config;
mod output;
mod prompt;
mod setup;
mod state;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: Pingora allocates on every request (headers,
/// buffers, futures), and glibc malloc cost the proxy roughly a tenth more CPU per request in
/// a side-by-side check (`benches/README.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Agent Vault: an HTTP credential broker for AI agents.
#[derive(Parser, Debug)]
#[command(
    name = "agent-vault",
    version,
    long_version = LONG_VERSION,
    about,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the server (proxy and admin), or stop a detached one.
    Server(cmd::server::ServerArgs),
    /// Print version information.
    Version,
    /// Work with the configuration file.
    Config {
        #[command(subcommand)]
        command: cmd::config::ConfigCmd,
    },
    /// Register, log in and log out.
    Auth {
        #[command(subcommand)]
        command: cmd::auth::AuthCmd,
    },
    /// Your own account.
    Account {
        #[command(subcommand)]
        command: cmd::account::AccountCmd,
    },
    /// Vaults and everything inside them.
    Vault(cmd::vault::VaultArgs),
    /// Agents at the instance level.
    Agent {
        #[command(subcommand)]
        command: cmd::agent::AgentCmd,
    },
    /// Users of the instance.
    User {
        #[command(subcommand)]
        command: cmd::user::UserCmd,
    },
    /// Owner-only administration.
    Owner {
        #[command(subcommand)]
        command: cmd::owner::OwnerCmd,
    },
    /// List the built-in service templates.
    Catalog(cmd::catalog::CatalogArgs),
}

/// The version with its build facts (from `build.rs`), for `version` and `--version`.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit:   ",
    env!("AGENT_VAULT_COMMIT"),
    "\nbuilt:    ",
    env!("AGENT_VAULT_BUILT"),
    "\ncompiler: ",
    env!("AGENT_VAULT_RUSTC"),
    "\nos/arch:  ",
    env!("AGENT_VAULT_TARGET"),
);

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server(args) => cmd::server::run(args),
        Command::Version => {
            println!("agent-vault {LONG_VERSION}");
            Ok(())
        }
        Command::Config { command } => cmd::config::run(command),
        Command::Auth { command } => cmd::auth::run(command),
        Command::Account { command } => cmd::account::run(command),
        Command::Vault(args) => cmd::vault::run(args),
        Command::Agent { command } => cmd::agent::run(command),
        Command::User { command } => cmd::user::run(command),
        Command::Owner { command } => cmd::owner::run(command),
        Command::Catalog(args) => cmd::catalog::run(args),
    };
    cmd::server::flush_logs();
    if let Err(e) = result {
        output::error(&e);
        std::process::exit(1);
    }
}

//! `agent-vault server`: unlocks the store with the master password and runs the Pingora proxy
//! and the axum admin service in one process; `server stop` ends a detached one.
//!
//! The flow follows the reference's startup order (detached child, open the database, master
//! password, first-owner prompt, detach or serve) so operator habits carry over; the pieces
//! live in submodules: [`password`] (master password sources), [`detach`] (pid file, `-d`,
//! `stop`), [`runtime`] (the Pingora server with both services and graceful shutdown) and [`dev`].

mod detach;
mod dev;
mod password;
mod runtime;

pub use detach::stop_if_running;
pub use runtime::flush_logs;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use av_store::crypto::MasterKey;
use av_store::Store;

use crate::config::{self, Flags, Settings};

/// `agent-vault server` flags.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServerArgs {
    #[command(subcommand)]
    command: Option<ServerCmd>,
    /// Admin port (default 14321).
    #[arg(short = 'p', long)]
    port: Option<u16>,
    /// Proxy port (default 14322).
    #[arg(long)]
    proxy_port: Option<u16>,
    /// Listen address of both services (default 127.0.0.1).
    #[arg(long)]
    host: Option<String>,
    /// Data directory (default ~/.agent-vault).
    #[arg(long, env = config::DATA_DIR_ENV)]
    data_dir: Option<PathBuf>,
    /// Config file (see conf/agent-vault.yaml).
    #[arg(long, env = config::CONFIG_ENV)]
    config: Option<PathBuf>,
    /// Run in the background (logs go to <data-dir>/server.log).
    #[arg(short = 'd', long)]
    detach: bool,
    /// Read the master password from the first line of stdin.
    #[arg(long)]
    password_stdin: bool,
    /// Run only the proxy (for scaling it as separate processes over the same database).
    #[arg(long, conflicts_with = "admin_only")]
    proxy_only: bool,
    /// Run only the admin service.
    #[arg(long)]
    admin_only: bool,
    /// A throwaway instance: temporary data dir, generated master password, owner account
    /// created and logged in for the CLI.
    #[arg(long, conflicts_with_all = ["detach", "password_stdin"])]
    dev: bool,
}

#[derive(Subcommand, Debug)]
enum ServerCmd {
    /// Stop a server started with -d.
    Stop {
        /// Data directory of the server (default ~/.agent-vault).
        #[arg(long, env = config::DATA_DIR_ENV)]
        data_dir: Option<PathBuf>,
        /// Config file (for its `server.data_dir`).
        #[arg(long, env = config::CONFIG_ENV)]
        config: Option<PathBuf>,
    },
}

/// Which services this process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Proxy and admin.
    Both,
    /// Proxy only.
    ProxyOnly,
    /// Admin only.
    AdminOnly,
}

impl Mode {
    fn runs_admin(self) -> bool {
        self != Mode::ProxyOnly
    }
    fn runs_proxy(self) -> bool {
        self != Mode::AdminOnly
    }
}

/// Runs `server` or `server stop`.
pub fn run(args: ServerArgs) -> Result<()> {
    // Read (and scrub) the master password before anything else can copy the environment.
    let env_password = password::take_env();
    if let Some(ServerCmd::Stop { data_dir, config }) = &args.command {
        let file = match config::config_path(config.as_deref()) {
            Some(p) => Some(config::load_file(&p)?),
            None => None,
        };
        return detach::stop(&config::data_dir(data_dir.as_deref(), file.as_ref()));
    }
    let mode = match (args.proxy_only, args.admin_only) {
        (true, _) => Mode::ProxyOnly,
        (_, true) => Mode::AdminOnly,
        _ => Mode::Both,
    };
    let mut flags = Flags {
        config: args.config.clone(),
        host: args.host.clone(),
        port: args.port,
        proxy_port: args.proxy_port,
        data_dir: args.data_dir.clone(),
    };
    if detach::is_detached_child() {
        let mut settings = Settings::resolve(&flags)?;
        settings.smtp = password::take_smtp();
        runtime::init_logging(&settings);
        let (key, _initialized) = detach::read_key_from_parent()?;
        let store = open_store(&settings)?;
        return runtime::serve(settings, store, Arc::new(key), mode, None);
    }
    if args.dev {
        let dir = dev::temp_data_dir()?;
        flags.data_dir = Some(dir.clone());
        let mut settings = Settings::resolve(&flags)?;
        settings.smtp = password::take_smtp();
        runtime::init_logging(&settings);
        return dev::run(settings, mode);
    }
    let mut settings = Settings::resolve(&flags)?;
    // A detaching parent leaves the SMTP password for the child that serves.
    if !args.detach {
        settings.smtp = password::take_smtp();
    }
    runtime::init_logging(&settings);
    let store = open_store(&settings)?;
    let interactive = env_password.is_none() && !args.password_stdin;
    let key = password::unlock(&store, env_password, args.password_stdin)?;
    if interactive && mode.runs_admin() && !has_users(&store)? {
        password::prompt_first_owner(&store)?;
    }
    if args.detach {
        return detach::spawn(&settings, &flags, mode, &key, has_users(&store)?);
    }
    runtime::serve(settings, store, Arc::new(key), mode, None)
}

fn open_store(settings: &Settings) -> Result<Store> {
    Store::open(&settings.data_dir).with_context(|| {
        format!(
            "cannot open the database in {}",
            settings.data_dir.display()
        )
    })
}

fn has_users(store: &Store) -> Result<bool> {
    Ok(store.read(|c| {
        c.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))
            .map_err(av_store::Error::from)
    })?)
}

/// Unlocks (or initializes) the master key with a known password.
fn unlock_with(store: &Store, password: &[u8]) -> Result<MasterKey> {
    match store.write(|tx| av_store::crypto::unlock_or_init(tx, password)) {
        Ok(k) => Ok(k),
        Err(av_store::Error::WrongPassword) => bail!("wrong password"),
        Err(e) => Err(e).context("cannot unlock the master key"),
    }
}

//! `agent-vault config check FILE`: validates a server config file without starting anything,
//! with the same rules startup applies (unknown keys and bad values are named).

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use crate::{config, output};

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Validate a config file (exit status 0 when it is valid).
    Check {
        /// The YAML file, e.g. conf/agent-vault.yaml.
        file: PathBuf,
    },
}

/// Runs a subcommand.
pub fn run(cmd: ConfigCmd) -> Result<()> {
    match cmd {
        ConfigCmd::Check { file } => {
            config::load_file(&file)?;
            output::success(&format!("{} is valid", file.display()));
            Ok(())
        }
    }
}

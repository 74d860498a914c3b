//! Background operation: the pid file, `server -d` (re-executing this binary in a new session
//! with the unlocked key handed over a pipe, never through the environment or arguments) and
//! `server stop`.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use zeroize::Zeroizing;

use av_store::crypto::MasterKey;

use super::Mode;
use crate::config::{Flags, Settings};
use crate::output;

const CHILD_ENV: &str = "_AGENT_VAULT_DETACHED";
const PID_FILE: &str = "agent-vault.pid";
const LOG_FILE: &str = "server.log";

/// Whether this process is the re-executed child of `server -d`.
pub fn is_detached_child() -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok("1")
}

/// Reads the 33 bytes the parent writes (32-byte key + initialized flag) from stdin.
pub fn read_key_from_parent() -> Result<(MasterKey, bool)> {
    std::env::remove_var(CHILD_ENV);
    let mut buf = Zeroizing::new([0u8; 33]);
    std::io::stdin()
        .lock()
        .read_exact(buf.as_mut())
        .context("detached child: cannot read the key from the parent")?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&buf[..32]);
    Ok((MasterKey::from_bytes(key), buf[32] == 1))
}

fn pid_path(data_dir: &Path) -> PathBuf {
    data_dir.join(PID_FILE)
}

/// The pid recorded in the pid file, if the file exists and parses.
fn read_pid(data_dir: &Path) -> Option<i32> {
    fs::read_to_string(pid_path(data_dir))
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
}

/// Whether the process runs. An exited process its parent has not reaped yet (a zombie, e.g.
/// a server started by a supervisor or a test harness) counts as stopped.
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    // `/proc/<pid>/stat` is `pid (comm) state ...`; comm may hold spaces or parentheses.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z"),
        Err(_) => true,
    }
}

/// Writes `<data-dir>/agent-vault.pid` atomically (0600); a failure is only a warning.
pub fn write_pid_file(data_dir: &Path) -> Option<PathBuf> {
    let path = pid_path(data_dir);
    let tmp = data_dir.join(format!("{PID_FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        writeln!(f, "{}", std::process::id())?;
        fs::rename(&tmp, &path)
    };
    match write() {
        Ok(()) => Some(path),
        Err(e) => {
            tracing::warn!("cannot write pid file {}: {e}", path.display());
            None
        }
    }
}

/// Removes the pid file if it still names this process.
pub fn remove_pid_file(path: &Path) {
    let ours = fs::read_to_string(path)
        .ok()
        .is_some_and(|s| s.trim() == std::process::id().to_string());
    if ours {
        let _ = fs::remove_file(path);
    }
}

/// `server -d`: start the child, hand it the key, wait until it answers.
pub fn spawn(
    settings: &Settings,
    flags: &Flags,
    mode: Mode,
    key: &MasterKey,
    initialized: bool,
) -> Result<()> {
    let dir = &settings.data_dir;
    if let Some(pid) = read_pid(dir) {
        if alive(pid) {
            bail!("server is already running (PID {pid}). Use 'agent-vault server stop' to stop it first");
        }
        let _ = fs::remove_file(pid_path(dir));
    }
    let log_path = dir.join(LOG_FILE);
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    fs::set_permissions(&log_path, fs::Permissions::from_mode(0o600))?;
    let exe = std::env::current_exe().context("cannot find the agent-vault binary")?;
    let mut cmd = Command::new(exe);
    cmd.arg("server")
        .arg("--host")
        .arg(&settings.host)
        .arg("--port")
        .arg(settings.port.to_string())
        .arg("--proxy-port")
        .arg(settings.proxy_port.to_string())
        .arg("--data-dir")
        .arg(dir);
    if let Some(c) = &flags.config {
        cmd.arg("--config").arg(c);
    }
    match mode {
        Mode::ProxyOnly => {
            cmd.arg("--proxy-only");
        }
        Mode::AdminOnly => {
            cmd.arg("--admin-only");
        }
        Mode::Both => {}
    }
    cmd.env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe and touches no Rust state in the forked child.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("cannot start the background server")?;
    {
        let mut payload = Zeroizing::new([0u8; 33]);
        payload[..32].copy_from_slice(key.bytes());
        payload[32] = u8::from(initialized);
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| anyhow!("cannot talk to the background server"))?;
        stdin
            .write_all(payload.as_ref())
            .context("cannot hand the key to the background server")?;
    }
    let pid = child.id();
    let probe = if mode == Mode::ProxyOnly {
        settings.proxy_local_addr()
    } else {
        settings.admin_local_addr()
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "the background server exited ({status}); see {}",
                log_path.display()
            );
        }
        if healthy(probe, mode) {
            output::success(&format!(
                "Server started in background (PID {pid}). Logs: {}",
                log_path.display()
            ));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "Warning: the server (PID {pid}) may still be starting; check {}",
        log_path.display()
    );
    bail!("server did not respond within 3 seconds")
}

fn healthy(addr: std::net::SocketAddr, mode: Mode) -> bool {
    if mode == Mode::ProxyOnly {
        return std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok();
    }
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_millis(500)))
            .build(),
    );
    agent
        .get(format!("http://{addr}/health"))
        .call()
        .is_ok_and(|r| r.status() == 200)
}

/// Stops the server of `data_dir` when one is running (as [`stop`]); a stale pid file is
/// removed, and no server at all is fine.
pub fn stop_if_running(data_dir: &Path) -> Result<()> {
    match read_pid(data_dir) {
        Some(pid) if alive(pid) => stop(data_dir),
        _ => {
            let _ = fs::remove_file(pid_path(data_dir));
            Ok(())
        }
    }
}

/// `server stop`: SIGTERM the recorded process and wait up to 10 s for it to exit.
pub fn stop(data_dir: &Path) -> Result<()> {
    let path = pid_path(data_dir);
    if !path.exists() {
        bail!("no server appears to be running (PID file not found)");
    }
    let pid = read_pid(data_dir).ok_or_else(|| anyhow!("invalid PID file {}", path.display()))?;
    if !alive(pid) {
        let _ = fs::remove_file(&path);
        bail!("server process {pid} is not running (stale PID file removed)");
    }
    println!("Stopping server (PID {pid})...");
    // SAFETY: plain kill(2) on a pid read from our own pid file.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        bail!(
            "cannot signal process {pid}: {}",
            std::io::Error::last_os_error()
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !alive(pid) {
            let _ = fs::remove_file(&path);
            output::success("Server stopped.");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!(
        "server (PID {pid}) did not stop within 10 seconds; kill it manually with 'kill -9 {pid}'"
    )
}

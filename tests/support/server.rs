//! The real `agent-vault server` on ephemeral ports, with its own HOME and data directory,
//! killed (by PID) when dropped.

use std::fs::{self, File};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http::Http;
use super::upstream::test_ca_pem_path;

/// The master password every harness server starts with.
pub const MASTER_PASSWORD: &str = "harness-master-password";

/// Extra settings for [`Server::start_with`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Extra environment variables for the server (applied last, so they override).
    pub env: Vec<(String, String)>,
    /// Extra arguments after `server ...`.
    pub args: Vec<String>,
    /// Environment variables to remove from the server's environment.
    pub remove_env: Vec<String>,
    /// Use this data directory (e.g. another server's, to run `--proxy-only` beside it)
    /// instead of a fresh one.
    pub data_dir: Option<PathBuf>,
}

/// A logged-in human.
#[derive(Clone, Debug)]
pub struct Login {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// `av_sess_` token.
    pub token: String,
}

/// A running server.
pub struct Server {
    /// Admin base URL, `http://127.0.0.1:PORT`.
    pub admin: String,
    /// Proxy base URL, `http://127.0.0.1:PORT` (requests go to `<proxy>/proxy/<host>/...`).
    pub proxy: String,
    /// The HOME of the server and of [`Server::cli`] commands.
    pub home: PathBuf,
    /// The server's data directory.
    pub data_dir: PathBuf,
    /// Admin port.
    pub port: u16,
    /// Proxy port.
    pub proxy_port: u16,
    opts: Options,
    log_path: PathBuf,
    child: Option<Child>,
    _root: Option<tempfile::TempDir>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

impl Server {
    /// Starts a server with the defaults and waits until both ports answer.
    pub fn start() -> Server {
        Server::start_with(Options::default())
    }

    /// Starts a server with extra environment and arguments.
    pub fn start_with(opts: Options) -> Server {
        let root = tempfile::Builder::new()
            .prefix("av-e2e-")
            .tempdir()
            .expect("temp dir");
        let home = root.path().join("home");
        let data_dir = opts
            .data_dir
            .clone()
            .unwrap_or_else(|| root.path().join("data"));
        fs::create_dir_all(&home).expect("home dir");
        let log_path = root.path().join("server.log");
        let mut last_log = String::new();
        for _ in 0..5 {
            let mut s = Server {
                admin: String::new(),
                proxy: String::new(),
                home: home.clone(),
                data_dir: data_dir.clone(),
                port: free_port(),
                proxy_port: free_port(),
                opts: opts.clone(),
                log_path: log_path.clone(),
                child: None,
                _root: None,
            };
            s.admin = format!("http://127.0.0.1:{}", s.port);
            s.proxy = format!("http://127.0.0.1:{}", s.proxy_port);
            if s.port == s.proxy_port {
                continue;
            }
            match s.spawn_and_wait() {
                Ok(()) => {
                    s._root = Some(root);
                    return s;
                }
                Err(log) if log.contains("cannot listen") => {
                    last_log = log;
                    continue;
                }
                Err(log) => panic!("server did not start:\n{log}"),
            }
        }
        panic!("server did not start (ports):\n{last_log}")
    }

    /// The command that runs this server (binary, environment, arguments), not started.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent-vault"));
        cmd.arg("server")
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--proxy-port")
            .arg(self.proxy_port.to_string())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.opts.args)
            .current_dir(&self.home);
        for k in [
            "AGENT_VAULT_ADDR",
            "AGENT_VAULT_PROXY_ADDR",
            "AGENT_VAULT_CONFIG",
            "AGENT_VAULT_DATA_DIR",
            "AGENT_VAULT_SESSION_TOKEN",
            "AGENT_VAULT_VAULT",
            "AGENT_VAULT_LOG_FORMAT",
            "AGENT_VAULT_DEV_MODE",
            "AGENT_VAULT_TRUSTED_PROXIES",
            "_AGENT_VAULT_DETACHED",
        ] {
            cmd.env_remove(k);
        }
        cmd.env("HOME", &self.home)
            .env("NO_COLOR", "1")
            .env("AGENT_VAULT_MASTER_PASSWORD", MASTER_PASSWORD)
            .env("AGENT_VAULT_NETWORK_MODE", "private")
            .env("AGENT_VAULT_LOG", "info")
            .env("AGENT_VAULT_UPSTREAM_CA_FILE", test_ca_pem_path());
        for k in &self.opts.remove_env {
            cmd.env_remove(k);
        }
        for (k, v) in &self.opts.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("log file");
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        let child = cmd.spawn().expect("cannot run agent-vault");
        self.child = Some(child);
        let admin = !self.opts.args.iter().any(|a| a == "--proxy-only");
        let proxy = !self.opts.args.iter().any(|a| a == "--admin-only");
        let http = Http::with_timeout(Duration::from_secs(2));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!("exited with {status}\n{}", self.log()));
            }
            let admin_ok = !admin
                || http
                    .get(&format!("{}/health", self.admin))
                    .try_send()
                    .is_ok_and(|r| r.status == 200);
            let proxy_ok = !proxy || TcpStream::connect(("127.0.0.1", self.proxy_port)).is_ok();
            if admin_ok && proxy_ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after 30 s\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The server's process id (panics if it is not running).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server not running").id()
    }

    /// An `agent-vault` CLI command: HOME = the server's home, `NO_COLOR=1`,
    /// `AGENT_VAULT_ADDR` unset, working directory a fresh temporary directory.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent-vault"));
        let cwd = tempfile::Builder::new()
            .prefix("av-cwd-")
            .tempdir_in(&self.home)
            .expect("cwd")
            .keep();
        cmd.current_dir(cwd)
            .env("HOME", &self.home)
            .env("NO_COLOR", "1")
            .env_remove("AGENT_VAULT_ADDR")
            .env_remove("AGENT_VAULT_SESSION_TOKEN")
            .env_remove("AGENT_VAULT_VAULT")
            .env_remove("AGENT_VAULT_MASTER_PASSWORD")
            .env_remove("AGENT_VAULT_DATA_DIR")
            .env_remove("AGENT_VAULT_CONFIG")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `agent-vault <args>` like [`Server::cli`] but on a real terminal: inside `script`
    /// (util-linux), which gives it a pseudo-TTY for prompts and hidden input. `typed` is what
    /// the user types, answers separated by newlines.
    pub fn on_terminal(&self, args: &str, typed: &str) -> std::process::Output {
        let cli = self.cli();
        let bin = env!("CARGO_BIN_EXE_agent-vault");
        let mut c = Command::new("script");
        c.args(["-q", "-e", "-c", &format!("{bin} {args}"), "/dev/null"])
            .current_dir(cli.get_current_dir().expect("cwd"));
        for (k, v) in cli.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("util-linux `script` runs agent-vault");
        if let Some(mut stdin) = child.stdin.take() {
            std::io::Write::write_all(&mut stdin, typed.as_bytes()).expect("type the answers");
        }
        child.wait_with_output().expect("script finishes")
    }

    /// A fresh HTTP client.
    pub fn http(&self) -> Http {
        Http::new()
    }

    /// `<admin><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.admin)
    }

    /// `<proxy>/proxy/<host_and_path>`.
    pub fn proxy_url(&self, host_and_path: &str) -> String {
        format!(
            "{}/proxy/{}",
            self.proxy,
            host_and_path.trim_start_matches('/')
        )
    }

    /// Registers the first owner (`owner@example.com`) through the API and logs in.
    pub fn register_owner(&self) -> Login {
        self.register_and_login("owner@example.com", "owner-password-1")
    }

    /// Registers an account (first one becomes owner) and logs it in; panics unless both work.
    pub fn register_and_login(&self, email: &str, password: &str) -> Login {
        let http = self.http();
        let r = http
            .post(
                &self.url("/v1/auth/register"),
                json!({ "email": email, "password": password }),
            )
            .send();
        assert!(
            r.status == 200 || r.status == 201,
            "register {email}: {} {}\n{}",
            r.status,
            r.text,
            self.log()
        );
        self.login(email, password)
    }

    /// Logs in through the API; panics unless it works.
    pub fn login(&self, email: &str, password: &str) -> Login {
        let r = self
            .http()
            .post(
                &self.url("/v1/auth/login"),
                json!({ "email": email, "password": password }),
            )
            .send();
        assert_eq!(r.status, 200, "login {email}: {}", r.text);
        let token = r
            .json
            .get("token")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("login answer has no token: {}", r.text))
            .to_string();
        Login {
            email: email.to_string(),
            password: password.to_string(),
            token,
        }
    }

    /// Logs the CLI in (`agent-vault auth login --password-stdin`), writing its session file.
    pub fn login_cli(&self, login: &Login) {
        use std::io::Write;
        let mut child = self
            .cli()
            .args([
                "auth",
                "login",
                "--address",
                &self.admin,
                "--email",
                &login.email,
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("agent-vault auth login");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = writeln!(stdin, "{}", login.password);
        }
        let out = child.wait_with_output().expect("agent-vault auth login");
        assert!(
            out.status.success(),
            "auth login failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends SIGTERM and waits (up to 20 s) for the process to exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server not running");
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("server did not stop within 20 s\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same ports and data directory (after [`Server::stop`]).
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        if let Err(log) = self.spawn_and_wait() {
            panic!("server did not restart:\n{log}");
        }
    }

    /// Path of a file in the data directory.
    pub fn data_file(&self, name: &str) -> PathBuf {
        self.data_dir.join(name)
    }

    /// The home directory's `.agent-vault` (CLI session and context).
    pub fn cli_dir(&self) -> PathBuf {
        Path::new(&self.home).join(".agent-vault")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

//! The running server: one Pingora `Server` holding the proxy service(s) and the axum admin
//! service (as a Pingora background service), sharing one store and one master key.
//!
//! Shutdown: SIGINT, SIGTERM and SIGQUIT all start a graceful stop (Pingora would otherwise
//! drop in-flight requests on SIGINT and wait a fixed 300 s on SIGTERM). Listeners close at
//! once; a drain watcher exits the process as soon as admin has finished its requests and no
//! connection to the proxy port is left, or when the configured grace runs out.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use async_trait::async_trait;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use tokio::signal::unix::{signal, SignalKind};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};

use av_admin::AppState;
use av_store::crypto::MasterKey;
use av_store::Store;

use super::{detach, Mode};
use crate::config::{LogFormat, Settings};

/// Starts `tracing` (and the `log` bridge Pingora logs through) on stderr.
///
/// Lines are formatted where they happen but written by a background thread through a buffer,
/// one `write(2)` per batch: with a line per proxied request, a write per line cost about a
/// quarter of the proxy's throughput in the load benchmarks. Nothing is dropped (a full queue
/// makes loggers wait); [`flush_logs`] writes out what is queued before the process exits.
pub fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::builder()
        .parse(&settings.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log writer")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    *LOG_WRITER.lock().unwrap_or_else(|p| p.into_inner()) = Some(guard);
}

/// The background log writer, kept until [`flush_logs`].
static LOG_WRITER: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// Writes out the queued log lines and stops the writer (call before the process exits;
/// later lines are dropped).
pub fn flush_logs() {
    drop(LOG_WRITER.lock().unwrap_or_else(|p| p.into_inner()).take());
}

/// What to do after the server stopped (e.g. remove a `--dev` data directory).
pub type Cleanup = Box<dyn Fn() + Send + Sync>;

/// Runs the services until a shutdown signal; returns after a clean stop.
pub fn serve(
    settings: Settings,
    store: Store,
    key: Arc<MasterKey>,
    mode: Mode,
    cleanup: Option<Cleanup>,
) -> Result<()> {
    if let Some(file) = &settings.config_file {
        tracing::info!("configuration read from {}", file.display());
    }
    let mut server = Server::new_with_opt_and_conf(None, settings.server_conf());
    let admin_done = Arc::new(AtomicBool::new(!mode.runs_admin()));
    let mut initialized = true;

    if mode.runs_admin() {
        let addr = settings.admin_addr();
        let listener = bind(addr)?;
        let state = AppState::new(store.clone(), key.clone(), settings.admin_config())
            .context("cannot read the database")?;
        initialized = state.is_initialized();
        let admin = AdminService {
            listener: Mutex::new(Some(listener)),
            app: av_admin::router(state),
            done: admin_done.clone(),
        };
        server.add_service(background_service("admin", admin));
    }
    if mode.runs_proxy() {
        // Fail with a clear message here rather than inside Pingora's listener setup.
        drop(bind(settings.proxy.listen)?);
        let services = av_proxy::services(
            &server.configuration,
            store.clone(),
            key.clone(),
            settings.proxy.clone(),
        )
        .map_err(|e| anyhow!("{e}"))?;
        server.add_services(services);
    }

    let pid_file = detach::write_pid_file(&settings.data_dir);
    let finish = Arc::new(Finish {
        pid_file,
        cleanup: Mutex::new(cleanup),
        done: AtomicBool::new(false),
    });
    server.add_service(background_service(
        "drain",
        Drain {
            admin_done,
            proxy_port: mode.runs_proxy().then_some(settings.proxy_port),
            finish: finish.clone(),
        },
    ));

    if mode.runs_admin() {
        println!(
            "Agent Vault server listening on {}",
            settings.admin_base_url
        );
    }
    if mode.runs_proxy() {
        println!(
            "Agent Vault server listening on {} (proxy: agents use {}/proxy)",
            settings.proxy_base_url, settings.proxy_base_url
        );
    }
    if mode.runs_admin() && !initialized {
        println!(
            "No owner account yet: run 'agent-vault auth register' or open {} to create one.",
            settings.admin_base_url
        );
    }
    let _ = std::io::stdout().flush();

    server.run(RunArgs {
        shutdown_signal: Box::new(Signals),
    });
    finish.run();
    drop(key);
    Ok(())
}

fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let l = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    l.set_nonblocking(true)
        .with_context(|| format!("cannot listen on {addr}"))?;
    Ok(l)
}

/// The admin service (axum) as a Pingora background service.
struct AdminService {
    listener: Mutex<Option<TcpListener>>,
    app: axum::Router,
    done: Arc<AtomicBool>,
}

#[async_trait]
impl BackgroundService for AdminService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let taken = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(std_listener) = taken else {
            return;
        };
        let listener = match tokio::net::TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("admin listener failed: {e}");
                self.done.store(true, Ordering::Release);
                return;
            }
        };
        let app = self
            .app
            .clone()
            .into_make_service_with_connect_info::<SocketAddr>();
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!("admin service failed: {e}");
        }
        self.done.store(true, Ordering::Release);
    }
}

/// Turns SIGINT, SIGTERM and SIGQUIT into a graceful stop.
struct Signals;

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let streams = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::quit()),
        );
        let (Ok(mut int), Ok(mut term), Ok(mut quit)) = streams else {
            tracing::error!("cannot watch shutdown signals");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = quit.recv() => {}
        }
        eprintln!("shutting down server...");
        ShutdownSignal::GracefulTerminate
    }
}

/// Last steps of a stop, run exactly once (by the drain watcher or after Pingora returns).
struct Finish {
    pid_file: Option<PathBuf>,
    cleanup: Mutex<Option<Cleanup>>,
    done: AtomicBool,
}

impl Finish {
    fn run(&self) {
        if self.done.swap(true, Ordering::AcqRel) {
            return;
        }
        let cleanup = self
            .cleanup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(c) = cleanup {
            c();
        }
        if let Some(p) = &self.pid_file {
            detach::remove_pid_file(p);
        }
        eprintln!("server shut down gracefully");
    }
}

/// Exits as soon as the server is drained after a shutdown signal.
struct Drain {
    admin_done: Arc<AtomicBool>,
    proxy_port: Option<u16>,
    finish: Arc<Finish>,
}

#[async_trait]
impl BackgroundService for Drain {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if shutdown.changed().await.is_err() {
            return;
        }
        loop {
            let proxy_idle = self.proxy_port.is_none_or(|p| open_connections(p) == 0);
            if self.admin_done.load(Ordering::Acquire) && proxy_idle {
                self.finish.run();
                flush_logs();
                std::process::exit(0);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Established TCP connections whose local port is `port` (Linux `/proc/net/tcp{,6}`);
/// 0 where that information is unavailable.
fn open_connections(port: u16) -> usize {
    let needle = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|text| {
            text.lines()
                .skip(1)
                .filter(|line| {
                    let mut cols = line.split_whitespace();
                    let local = cols.nth(1).unwrap_or("");
                    let state = cols.nth(1).unwrap_or("");
                    local.ends_with(&needle) && state == "01"
                })
                .count()
        })
        .sum()
}

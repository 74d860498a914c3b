//! Build facts for `agent-vault version`: the git commit, the build time (UTC) and the
//! compiler, each `unknown` when it cannot be found (e.g. a source tarball without git).

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let commit = run("git", &["rev-parse", "--short=12", "HEAD"]);
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let compiler = run(&rustc, &["--version"]);
    println!("cargo:rustc-env=AGENT_VAULT_COMMIT={commit}");
    println!("cargo:rustc-env=AGENT_VAULT_RUSTC={compiler}");
    println!("cargo:rustc-env=AGENT_VAULT_BUILT={}", utc_now());
    let target = |k: &str| std::env::var(k).unwrap_or_else(|_| "unknown".into());
    println!(
        "cargo:rustc-env=AGENT_VAULT_TARGET={}/{}",
        target("CARGO_CFG_TARGET_OS"),
        target("CARGO_CFG_TARGET_ARCH")
    );
    println!("cargo:rerun-if-changed=build.rs");
    // A new commit changes HEAD or the branch it points at.
    for p in ["../.git/HEAD", "../.git/refs/heads", "../.git/packed-refs"] {
        if Path::new(p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// `YYYY-MM-DDTHH:MM:SSZ` from the system clock (civil-from-days, proleptic Gregorian).
fn utc_now() -> String {
    let Ok(d) = SystemTime::now().duration_since(UNIX_EPOCH) else {
        return "unknown".into();
    };
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

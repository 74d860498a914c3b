//! Asking the person at the terminal: hidden passwords, menus, confirmations, and
//! `--password-stdin`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};

/// Whether stdin is a terminal.
pub fn stdin_is_tty() -> bool {
    std::io::stdin().is_terminal()
}

/// Reads one line from stdin, trailing `\r`/`\n` removed (`--password-stdin`).
pub fn stdin_line() -> Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Prompts for a hidden value on the terminal.
pub fn password(prompt: &str) -> Result<String> {
    if !stdin_is_tty() {
        bail!("no terminal to prompt for a password; use --password-stdin");
    }
    Ok(rpassword::prompt_password(prompt)?)
}

/// Prompts for a visible line on the terminal.
pub fn line(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    stdin_line()
}

/// Shows a numbered menu on stderr and asks until the answer is one of `choices` (by number
/// or name); an empty answer picks `default`.
pub fn choose(question: &str, choices: &[&str], default: usize) -> Result<usize> {
    eprintln!("{question}");
    for (i, c) in choices.iter().enumerate() {
        eprintln!("  {}) {c}", i + 1);
    }
    loop {
        let answer = line(&format!("Choice [{}]: ", default + 1))?;
        let answer = answer.trim();
        if answer.is_empty() {
            return Ok(default);
        }
        if let Ok(n) = answer.parse::<usize>() {
            if (1..=choices.len()).contains(&n) {
                return Ok(n - 1);
            }
        }
        if let Some(i) = choices.iter().position(|c| c.eq_ignore_ascii_case(answer)) {
            return Ok(i);
        }
        eprintln!("Please answer 1-{}.", choices.len());
    }
}

/// Asks a yes/no question; `default` is the answer to an empty line. Without a terminal the
/// answer is no, so destructive commands need `--yes` in scripts.
pub fn confirm(question: &str, default: bool) -> Result<bool> {
    if !stdin_is_tty() {
        return Ok(false);
    }
    let hint = if default { "[Y/n]" } else { "[y/N]" };
    let answer = line(&format!("{question} {hint} "))?;
    Ok(match answer.trim().to_ascii_lowercase().as_str() {
        "" => default,
        "y" | "yes" => true,
        _ => false,
    })
}

/// For removals the original CLI never confirmed: asks only when a person is at the terminal
/// (and `--yes` was not given), so existing scripts keep working unchanged.
pub fn confirm_interactive(question: &str, yes: bool) -> Result<bool> {
    if yes || !stdin_is_tty() {
        return Ok(true);
    }
    confirm(question, false)
}

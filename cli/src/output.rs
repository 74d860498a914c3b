//! Printing: green check marks for success, red one-line errors, box tables for people and
//! raw JSON for scripts. Colors only on a terminal and never with `NO_COLOR`.

use std::io::IsTerminal;

use serde_json::Value;

fn color(stream_is_tty: bool) -> bool {
    stream_is_tty && std::env::var_os("NO_COLOR").is_none()
}

/// Prints `✓ msg` to stdout.
pub fn success(msg: &str) {
    if color(std::io::stdout().is_terminal()) {
        println!("\x1b[32m✓\x1b[0m {msg}");
    } else {
        println!("✓ {msg}");
    }
}

/// Prints an error line to stderr.
pub fn error(e: &anyhow::Error) {
    if color(std::io::stderr().is_terminal()) {
        eprintln!("\x1b[31mError: {e:#}\x1b[0m");
    } else {
        eprintln!("Error: {e:#}");
    }
}

/// Pretty-prints JSON.
pub fn json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

/// A string field of a JSON object, or `""`.
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A stored RFC 3339 timestamp shown as `YYYY-MM-DD HH:MM:SS`.
pub fn when(v: &Value, key: &str) -> String {
    s(v, key)
        .replacen('T', " ", 1)
        .trim_end_matches('Z')
        .to_string()
}

/// A list of `{"vault_name","vault_role"}` grants, each rendered by `fmt(name, role)`, joined
/// with ", "; `-` when there are none.
pub fn grants(v: &Value, fmt: impl Fn(&str, &str) -> String) -> String {
    let items: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| fmt(s(g, "vault_name"), s(g, "vault_role")))
        .collect();
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

/// A light box-drawing table.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether no rows were added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Renders the table.
    pub fn render(&self) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let line = |l: &str, m: &str, r: &str| {
            let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
            format!("{l}{}{r}\n", parts.join(m))
        };
        let cells = |r: &[String]| {
            let parts: Vec<String> = (0..n)
                .map(|i| {
                    let c = r.get(i).map(String::as_str).unwrap_or("");
                    format!(" {c}{} ", " ".repeat(widths[i] - c.chars().count()))
                })
                .collect();
            format!("│{}│\n", parts.join("│"))
        };
        let mut out = line("┌", "┬", "┐");
        out += &cells(&self.headers);
        out += &line("├", "┼", "┤");
        for r in &self.rows {
            out += &cells(r);
        }
        out += &line("└", "┴", "┘");
        out
    }

    /// Prints the table.
    pub fn print(&self) {
        print!("{}", self.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["NAME", "ROLE"]);
        t.row(vec!["a-long-name".into(), "admin".into()]);
        let out = t.render();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines
            .iter()
            .all(|l| l.chars().count() == lines[0].chars().count()));
        assert!(out.contains("│ a-long-name │ admin │"));
    }
}

//! Name rules shared by the API and the CLI: vault and agent slugs, credential keys, and the
//! exact messages the API answers with when a name breaks them.
//!
//! They live in the store so that admin routes, the CLI's local pre-checks and the proposal
//! validation agree byte for byte. Checks are hand-written byte scans: no regex engine on paths
//! that also run per request.

/// Error for a vault name that is not a slug.
pub const VAULT_NAME_INVALID: &str =
    "Vault name must be 3-64 characters, lowercase alphanumeric and hyphens only";
/// Error for an agent name that is not a slug.
pub const AGENT_NAME_INVALID: &str =
    "Agent name must be 3-64 characters, lowercase alphanumeric and hyphens only";
/// Error for a vault named after a reserved word.
pub const VAULT_NAME_RESERVED: &str = "This vault name is reserved";
/// The vault name that can never be created (it collides with `/v1/vaults/users`-style paths).
pub const RESERVED_VAULT_NAME: &str = "users";

/// True when `name` is a slug: 3 to 64 bytes, each one of `a-z`, `0-9` or `-`.
///
/// Leading, trailing and doubled hyphens are allowed, as in the reference.
pub fn is_slug(name: &str) -> bool {
    (3..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// True when `name` is reserved for vaults (`users`).
pub fn is_reserved_vault_name(name: &str) -> bool {
    name == RESERVED_VAULT_NAME
}

/// Checks a vault name for create and rename: the slug rule, then the reserved name.
pub fn validate_vault_name(name: &str) -> Result<(), &'static str> {
    if !is_slug(name) {
        Err(VAULT_NAME_INVALID)
    } else if is_reserved_vault_name(name) {
        Err(VAULT_NAME_RESERVED)
    } else {
        Ok(())
    }
}

/// True when `key` is a credential key: `^[A-Z][A-Z0-9_]*$` (UPPER_SNAKE_CASE).
pub fn is_credential_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z'))
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The 400 message for a credential key that breaks [`is_credential_key`] on
/// `POST`/`DELETE /v1/credentials`.
pub fn invalid_credential_key_message(key: &str) -> String {
    format!(
        "Invalid credential key {}: must be SCREAMING_SNAKE_CASE (e.g. STRIPE_KEY)",
        quote(key)
    )
}

/// Quotes `s` the way the reference's messages do (Go's `%q`): double quotes, backslash escapes
/// for quotes, backslashes and non-printable characters. Messages quote user input this way so
/// that control characters and line breaks can never forge log lines or message structure.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// Quotes one character as Go's `%q` does for a rune: single quotes, same escapes.
pub fn quote_char(c: char) -> String {
    let mut out = String::with_capacity(8);
    out.push('\'');
    push_escaped(&mut out, c, '\'');
    out.push('\'');
    out
}

fn push_escaped(out: &mut String, c: char, delimiter: char) {
    use std::fmt::Write as _;
    match c {
        '\\' => out.push_str("\\\\"),
        c if c == delimiter => {
            out.push('\\');
            out.push(c);
        }
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        ' ' => out.push(' '),
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if c.is_control() || c.is_whitespace() || is_invisible_format(c) => {
            if (c as u32) < 0x10000 {
                let _ = write!(out, "\\u{:04x}", c as u32);
            } else {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
        c => out.push(c),
    }
}

/// Format characters Go does not print verbatim (zero-width and bidi controls): escaping them
/// keeps a quoted value from visually reordering or hiding parts of a message.
fn is_invisible_format(c: char) -> bool {
    matches!(c as u32, 0xad | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        let cases: &[(&str, bool)] = &[
            ("abc", true),
            ("default", true),
            ("a-b", true),
            ("---", true),
            ("-ab", true),
            ("ab-", true),
            ("a--b", true),
            ("123", true),
            ("ab", false),
            ("", false),
            ("Abc", false),
            ("ab_c", false),
            ("ab c", false),
            ("abc\n", false),
            ("ab.c", false),
            ("日本語", false),
            ("ａｂｃ", false),
        ];
        for (name, ok) in cases {
            assert_eq!(is_slug(name), *ok, "{name:?}");
        }
        assert!(is_slug(&"a".repeat(64)));
        assert!(!is_slug(&"a".repeat(65)));
        // Byte length counts: two 2-byte chars are 4 bytes but not in the alphabet anyway.
        assert!(!is_slug("éé"));
    }

    #[test]
    fn vault_names() {
        assert_eq!(validate_vault_name("prod"), Ok(()));
        assert_eq!(validate_vault_name("users"), Err(VAULT_NAME_RESERVED));
        assert_eq!(validate_vault_name("Users"), Err(VAULT_NAME_INVALID));
        assert_eq!(validate_vault_name("x"), Err(VAULT_NAME_INVALID));
        assert!(is_reserved_vault_name("users"));
        assert!(!is_reserved_vault_name("user"));
    }

    #[test]
    fn credential_keys() {
        let cases: &[(&str, bool)] = &[
            ("A", true),
            ("STRIPE_KEY", true),
            ("A1_", true),
            ("A__B", true),
            ("", false),
            ("_A", false),
            ("1A", false),
            ("a", false),
            ("Stripe_KEY", false),
            ("STRIPE-KEY", false),
            ("STRIPE KEY", false),
            ("STRIPE_KEY\n", false),
            ("ÄKEY", false),
        ];
        for (key, ok) in cases {
            assert_eq!(is_credential_key(key), *ok, "{key:?}");
        }
    }

    #[test]
    fn messages() {
        assert_eq!(
            invalid_credential_key_message("bad-key"),
            "Invalid credential key \"bad-key\": must be SCREAMING_SNAKE_CASE (e.g. STRIPE_KEY)"
        );
    }

    #[test]
    fn go_quoting() {
        let cases: &[(&str, &str)] = &[
            ("abc", r#""abc""#),
            ("a\"b", r#""a\"b""#),
            ("a\\b", r#""a\\b""#),
            ("a\nb\tc\r", r#""a\nb\tc\r""#),
            ("\u{0}\u{1b}\u{7f}", r#""\x00\x1b\x7f""#),
            ("a b", r#""a b""#),
            ("é日本", "\"é日本\""),
            ("\u{a0}\u{2028}\u{200b}", r#""\u00a0\u2028\u200b""#),
            ("\u{85}", r#""\u0085""#),
            ("'", r#""'""#),
        ];
        for (input, want) in cases {
            assert_eq!(quote(input), *want, "{input:?}");
        }
        assert_eq!(quote_char('@'), "'@'");
        assert_eq!(quote_char('\''), r"'\''");
        assert_eq!(quote_char('"'), "'\"'");
        assert_eq!(quote_char('\n'), r"'\n'");
        assert_eq!(quote_char('\u{1}'), r"'\x01'");
    }
}

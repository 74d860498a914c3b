//! Email address checks for registration, invites and vault grants.
//!
//! The reference accepts whatever Go's `net/mail.ParseAddress` accepts (so display-name forms
//! like `Ann <ann@example.com>` pass) and reports that parser's error text after
//! `invalid email format: `. This is a hand-written port of the parts of that parser a single
//! address goes through, so the accepted set and the messages match without a mail crate.

use crate::names::{quote, quote_char};

/// Checks `email` as the API does. `Ok` carries the bare address (`local@domain`); the error is
/// the 400 message (`email is required` or `invalid email format: <reason>`).
pub fn validate(email: &str) -> Result<String, String> {
    if email.is_empty() {
        return Err("email is required".into());
    }
    Parser { s: email }
        .single_address()
        .map_err(|reason| format!("invalid email format: {reason}"))
}

/// The domain used for `allowed_email_domains`: the text after the first `@`, lowercased.
/// `None` when there is no `@`.
pub fn domain(email: &str) -> Option<String> {
    email.split_once('@').map(|(_, d)| d.to_lowercase())
}

struct Parser<'a> {
    s: &'a str,
}

type Parsed<T> = Result<T, String>;

fn is_vchar(c: char) -> bool {
    ('!'..='~').contains(&c) || !c.is_ascii()
}

fn is_atext(c: char, dot: bool) -> bool {
    match c {
        '.' => dot,
        '(' | ')' | '<' | '>' | '[' | ']' | ':' | ';' | '@' | '\\' | ',' | '"' => false,
        c => is_vchar(c),
    }
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.s.chars().next()
    }

    fn consume(&mut self, c: char) -> bool {
        match self.s.strip_prefix(c) {
            Some(rest) => {
                self.s = rest;
                true
            }
            None => false,
        }
    }

    fn skip_space(&mut self) {
        self.s = self.s.trim_start_matches([' ', '\t']);
    }

    /// Skips spaces and `(comments)`; false on an unbalanced comment.
    fn skip_cfws(&mut self) -> bool {
        loop {
            self.skip_space();
            if self.peek() != Some('(') {
                return true;
            }
            if self.comment().is_none() {
                return false;
            }
        }
    }

    /// Consumes a balanced `( ... )` and returns its inner text.
    fn comment(&mut self) -> Option<&'a str> {
        let mut depth = 0usize;
        for (i, c) in self.s.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        let inner = &self.s[1..i];
                        self.s = &self.s[i + 1..];
                        return Some(inner);
                    }
                }
                _ => {}
            }
        }
        None
    }

    fn single_address(mut self) -> Parsed<String> {
        let address = self.address()?;
        if !self.skip_cfws() {
            return Err("mail: misformatted parenthetical comment".into());
        }
        if !self.s.is_empty() {
            return Err(format!(
                "mail: expected single address, got {}",
                quote(self.s)
            ));
        }
        Ok(address)
    }

    fn address(&mut self) -> Parsed<String> {
        self.skip_space();
        if self.s.is_empty() {
            return Err("mail: no address".into());
        }
        let before = self.s;
        match self.addr_spec() {
            Ok(spec) => {
                self.skip_space();
                if self.peek() == Some('(') && self.comment().is_none() {
                    return Err("mail: misformatted parenthetical comment".into());
                }
                return Ok(spec);
            }
            Err(_) => self.s = before,
        }
        let mut display_name = String::new();
        if self.peek() != Some('<') {
            display_name = self.phrase()?;
        }
        self.skip_space();
        if !self.consume('<') {
            return Err(if display_name.chars().all(|c| is_atext(c, true)) {
                "mail: missing @ in addr-spec".into()
            } else {
                "mail: no angle-addr".into()
            });
        }
        let spec = self.addr_spec()?;
        if !self.consume('>') {
            return Err("mail: unclosed angle-addr".into());
        }
        Ok(spec)
    }

    fn addr_spec(&mut self) -> Parsed<String> {
        let before = self.s;
        let result = self.addr_spec_inner();
        if result.is_err() {
            self.s = before;
        }
        result
    }

    fn addr_spec_inner(&mut self) -> Parsed<String> {
        self.skip_space();
        if self.s.is_empty() {
            return Err("mail: no addr-spec".into());
        }
        let local = if self.peek() == Some('"') {
            let quoted = self.quoted_string()?;
            if quoted.is_empty() {
                return Err("mail: empty quoted-string in addr-spec".into());
            }
            quoted
        } else {
            self.atom(false)?.to_owned()
        };
        if !self.consume('@') {
            return Err("mail: missing @ in addr-spec".into());
        }
        self.skip_space();
        if self.s.is_empty() {
            return Err("mail: no domain in addr-spec".into());
        }
        let domain = if self.peek() == Some('[') {
            self.domain_literal()?
        } else {
            self.atom(false)?.to_owned()
        };
        Ok(format!("{local}@{domain}"))
    }

    /// A dot-atom; `permissive` allows leading, trailing and doubled dots (display names).
    fn atom(&mut self, permissive: bool) -> Parsed<&'a str> {
        let end = self
            .s
            .char_indices()
            .find(|&(_, c)| !is_atext(c, true))
            .map_or(self.s.len(), |(i, _)| i);
        if end == 0 {
            return Err("mail: invalid string".into());
        }
        let atom = &self.s[..end];
        if !permissive {
            if atom.starts_with('.') {
                return Err("mail: leading dot in atom".into());
            }
            if atom.contains("..") {
                return Err("mail: double dot in atom".into());
            }
            if atom.ends_with('.') {
                return Err("mail: trailing dot in atom".into());
            }
        }
        self.s = &self.s[end..];
        Ok(atom)
    }

    fn quoted_string(&mut self) -> Parsed<String> {
        let mut out = String::new();
        let mut escaped = false;
        for (i, c) in self.s.char_indices().skip(1) {
            if escaped {
                if !is_vchar(c) && !is_wsp(c) {
                    return Err(format!(
                        "mail: bad character in quoted-string: {}",
                        quote_char(c)
                    ));
                }
                out.push(c);
                escaped = false;
            } else if c == '"' {
                self.s = &self.s[i + 1..];
                return Ok(out);
            } else if c == '\\' {
                escaped = true;
            } else if is_vchar(c) || is_wsp(c) {
                out.push(c);
            } else {
                return Err(format!(
                    "mail: bad character in quoted-string: {}",
                    quote_char(c)
                ));
            }
        }
        Err("mail: unclosed quoted-string".into())
    }

    fn domain_literal(&mut self) -> Parsed<String> {
        self.consume('[');
        let Some(end) = self.s.find(']') else {
            return match self
                .s
                .chars()
                .find(|&c| c == '[' || c == '\\' || !is_vchar(c))
            {
                Some(c) => Err(format!(
                    "mail: bad character in domain-literal: {}",
                    quote_char(c)
                )),
                None => Err("mail: unclosed domain-literal".into()),
            };
        };
        let text = &self.s[..end];
        if let Some(c) = text
            .chars()
            .find(|&c| c == '[' || c == '\\' || !is_vchar(c))
        {
            return Err(format!(
                "mail: bad character in domain-literal: {}",
                quote_char(c)
            ));
        }
        self.s = &self.s[end + 1..];
        if text.parse::<std::net::IpAddr>().is_err() {
            return Err(format!(
                "mail: invalid IP address in domain-literal: {}",
                quote(text)
            ));
        }
        Ok(format!("[{text}]"))
    }

    /// A display name: one or more atoms or quoted strings. Errors only if no word was read.
    fn phrase(&mut self) -> Parsed<String> {
        let mut words: Vec<String> = Vec::new();
        let mut error = None;
        loop {
            if !words.is_empty() && !self.skip_cfws() {
                return Err("mail: misformatted parenthetical comment".into());
            }
            self.skip_space();
            if self.s.is_empty() {
                break;
            }
            let word = if self.peek() == Some('"') {
                self.quoted_string()
            } else {
                self.atom(true).map(str::to_owned)
            };
            match word {
                Ok(word) => words.push(word),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        match error {
            Some(e) if words.is_empty() => Err(format!("mail: missing word in phrase: {e}")),
            _ => Ok(words.join(" ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepted() {
        let cases: &[(&str, &str)] = &[
            ("ann@example.com", "ann@example.com"),
            ("Ann.Lee+tag@Example.COM", "Ann.Lee+tag@Example.COM"),
            ("  ann@example.com", "ann@example.com"),
            ("ann@localhost", "ann@localhost"),
            ("Ann Lee <ann@example.com>", "ann@example.com"),
            ("\"Ann Lee\" <ann@example.com>", "ann@example.com"),
            ("<ann@example.com>", "ann@example.com"),
            ("ann@example.com (Ann)", "ann@example.com"),
            ("\"ann lee\"@example.com", "ann lee@example.com"),
            ("ann@[127.0.0.1]", "ann@[127.0.0.1]"),
            ("jörg@münchen.de", "jörg@münchen.de"),
            ("a!#$%&'*+/=?^_`{|}~-@x", "a!#$%&'*+/=?^_`{|}~-@x"),
        ];
        for (input, want) in cases {
            assert_eq!(validate(input).as_deref(), Ok(*want), "{input:?}");
        }
    }

    #[test]
    fn rejected_with_reference_messages() {
        let cases: &[(&str, &str)] = &[
            ("", "email is required"),
            ("   ", "invalid email format: mail: no address"),
            ("ann", "invalid email format: mail: missing @ in addr-spec"),
            (
                "ann.example.com",
                "invalid email format: mail: missing @ in addr-spec",
            ),
            ("ann@", "invalid email format: mail: missing @ in addr-spec"),
            (
                "@example.com",
                "invalid email format: mail: missing word in phrase: mail: invalid string",
            ),
            (
                "ann@example.com bob@example.com",
                "invalid email format: mail: expected single address, got \"bob@example.com\"",
            ),
            (
                "ann@example.com, bob@example.com",
                "invalid email format: mail: expected single address, got \", bob@example.com\"",
            ),
            (
                "Ann <ann@example.com",
                "invalid email format: mail: unclosed angle-addr",
            ),
            (
                "Ann <ann>",
                "invalid email format: mail: missing @ in addr-spec",
            ),
            (
                ".ann@example.com",
                "invalid email format: mail: missing @ in addr-spec",
            ),
            (
                "ann@example..com",
                "invalid email format: mail: missing @ in addr-spec",
            ),
            (
                "ann@[not-an-ip]",
                "invalid email format: mail: missing @ in addr-spec",
            ),
            ("Ann Lee", "invalid email format: mail: no angle-addr"),
            ("Ann (x) Lee", "invalid email format: mail: no angle-addr"),
            (
                "ann@example.com\n",
                "invalid email format: mail: expected single address, got \"\\n\"",
            ),
            (
                "ann@example.com (unclosed",
                "invalid email format: mail: misformatted parenthetical comment",
            ),
            (
                "\"unclosed@example.com",
                "invalid email format: mail: missing word in phrase: mail: unclosed quoted-string",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(validate(input), Err((*want).to_owned()), "{input:?}");
        }
    }

    #[test]
    fn domains() {
        assert_eq!(domain("Ann@Example.COM").as_deref(), Some("example.com"));
        assert_eq!(domain("a@b@c").as_deref(), Some("b@c"));
        assert_eq!(domain("none"), None);
        assert_eq!(domain("a@").as_deref(), Some(""));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,60}") {
            let _ = validate(&s);
            let _ = domain(&s);
        }

        #[test]
        fn simple_addresses_pass(local in "[a-z0-9][a-z0-9._+-]{0,15}[a-z0-9]", host in "[a-z0-9]{1,10}\\.[a-z]{2,5}") {
            prop_assume!(!local.contains(".."));
            let addr = format!("{local}@{host}");
            prop_assert_eq!(validate(&addr), Ok(addr.clone()));
        }
    }
}

//! A recording SMTP server on 127.0.0.1 for the email tests: enough of RFC 5321 for a client
//! to deliver (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), optionally offering STARTTLS (with
//! the test CA's certificate) and AUTH PLAIN / LOGIN. Every delivered message is kept with its
//! envelope, whether it came over TLS and the credentials used.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::upstream::tls_server_config;

/// One delivered message.
#[derive(Clone, Debug, Default)]
pub struct Mail {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message as sent after `DATA` (dot-stuffing undone), CRLF line ends.
    pub data: String,
    /// Whether the session had switched to TLS.
    pub tls: bool,
    /// The decoded AUTH PLAIN / LOGIN credentials (`user:password`), if any.
    pub auth: Option<String>,
}

impl Mail {
    /// The value of a header of the message.
    pub fn header(&self, name: &str) -> Option<&str> {
        let head = self.data.split("\r\n\r\n").next()?;
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
    /// The body (after the blank line).
    pub fn body(&self) -> &str {
        self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }
}

/// A running SMTP server; stops accepting when dropped.
pub struct Smtp {
    /// The port on 127.0.0.1.
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
}

/// What the server offers after EHLO.
#[derive(Clone, Copy, Debug, Default)]
pub struct Offer {
    /// Advertise and accept STARTTLS.
    pub starttls: bool,
    /// Advertise AUTH PLAIN LOGIN (accepts any credentials).
    pub auth: bool,
}

impl Smtp {
    /// Starts a server offering `offer`.
    pub fn start(offer: Offer) -> Smtp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind smtp");
        let port = listener.local_addr().expect("addr").port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let recorded = mails.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let recorded = recorded.clone();
                std::thread::spawn(move || {
                    let _ = session(conn, offer, &recorded);
                });
            }
        });
        Smtp { port, mails }
    }

    /// Messages delivered so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits up to 10 s for the `n`-th message (1-based) and returns it.
    pub fn wait_for(&self, n: usize) -> Mail {
        let start = Instant::now();
        loop {
            if let Some(m) = self.mails().get(n - 1) {
                return m.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no mail #{n} within 10 s (have {})",
                self.mails().len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn session(tcp: TcpStream, offer: Offer, mails: &Mutex<Vec<Mail>>) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut io: BufReader<Box<dyn Stream>> = BufReader::new(Box::new(tcp.try_clone()?));
    let mut tls = false;
    let mut auth = None;
    let mut mail = Mail::default();
    write!(io.get_mut(), "220 test.local ESMTP\r\n")?;
    loop {
        let mut line = String::new();
        if io.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end().to_string();
        let upper = line.to_ascii_uppercase();
        let out = io.get_mut();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let mut ext = vec!["test.local", "8BITMIME", "SIZE 10485760"];
            if offer.starttls && !tls {
                ext.push("STARTTLS");
            }
            if offer.auth {
                ext.push("AUTH PLAIN LOGIN");
            }
            for (i, e) in ext.iter().enumerate() {
                let sep = if i + 1 == ext.len() { ' ' } else { '-' };
                write!(out, "250{sep}{e}\r\n")?;
            }
        } else if upper == "STARTTLS" && offer.starttls && !tls {
            write!(out, "220 go ahead\r\n")?;
            out.flush()?;
            let conn = rustls::ServerConnection::new(Arc::new(tls_server_config()))
                .map_err(std::io::Error::other)?;
            let stream = rustls::StreamOwned::new(conn, tcp.try_clone()?);
            io = BufReader::new(Box::new(stream));
            tls = true;
        } else if upper.starts_with("AUTH PLAIN") {
            let b64 = line.split_whitespace().nth(2).unwrap_or("").to_string();
            let raw = decode64(&b64);
            let parts: Vec<&str> = raw.split('\0').collect();
            auth = Some(format!(
                "{}:{}",
                parts.get(1).unwrap_or(&""),
                parts.get(2).unwrap_or(&"")
            ));
            write!(out, "235 ok\r\n")?;
        } else if upper.starts_with("AUTH LOGIN") {
            write!(out, "334 VXNlcm5hbWU6\r\n")?;
            out.flush()?;
            let mut user = String::new();
            io.read_line(&mut user)?;
            write!(io.get_mut(), "334 UGFzc3dvcmQ6\r\n")?;
            io.get_mut().flush()?;
            let mut pass = String::new();
            io.read_line(&mut pass)?;
            auth = Some(format!(
                "{}:{}",
                decode64(user.trim()),
                decode64(pass.trim())
            ));
            write!(io.get_mut(), "235 ok\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            mail = Mail {
                from: address(&line[10..]),
                tls,
                auth: auth.clone(),
                ..Mail::default()
            };
            write!(out, "250 ok\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(address(&line[8..]));
            write!(out, "250 ok\r\n")?;
        } else if upper == "DATA" {
            write!(out, "354 end with .\r\n")?;
            out.flush()?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if io.read_line(&mut l)? == 0 {
                    return Ok(());
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            mail.data = data.strip_suffix("\r\n").unwrap_or(&data).to_string();
            mails
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(std::mem::take(&mut mail));
            write!(io.get_mut(), "250 queued\r\n")?;
        } else if upper == "QUIT" {
            write!(out, "221 bye\r\n")?;
            out.flush()?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            write!(out, "250 ok\r\n")?;
        } else {
            write!(out, "502 unknown command\r\n")?;
        }
        io.get_mut().flush()?;
    }
}

fn address(s: &str) -> String {
    let s = s.trim();
    let s = s.split_whitespace().next().unwrap_or(s);
    s.trim_start_matches('<').trim_end_matches('>').to_string()
}

fn decode64(s: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

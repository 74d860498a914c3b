//! Credential encryption and password hashing.
//!
//! The master password is stretched with Argon2id into a 32-byte key that encrypts every
//! credential with AES-256-GCM (fresh 96-bit nonce per value, ciphertext followed by the tag).
//! An encrypted sentinel proves at start-up that the password is right. Human passwords are
//! hashed with the same Argon2id parameters and verified in constant time.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngExt;
use rusqlite::{params, Connection, OptionalExtension};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

const SENTINEL: &[u8] = b"agent-vault-master-key-check";

/// Argon2id cost parameters, stored beside every hash so they can change later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Passes over memory.
    pub time: u32,
    /// Memory in KiB.
    pub memory: u32,
    /// Lanes.
    pub threads: u32,
}

impl KdfParams {
    /// The parameters used for new keys and password hashes (t=3, 64 MiB, p=4).
    pub const DEFAULT: KdfParams = KdfParams {
        time: 3,
        memory: 65536,
        threads: 4,
    };

    fn derive(&self, password: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let params = Params::new(self.memory, self.time, self.threads, Some(32))
            .map_err(|_| Error::Crypto)?;
        let mut out = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(password, salt, out.as_mut())
            .map_err(|_| Error::Crypto)?;
        Ok(out)
    }
}

/// The key that encrypts credentials. Zeroized when dropped; never printed.
pub struct MasterKey {
    cipher: Aes256Gcm,
    bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// A value encrypted under the master key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// AES-GCM output: ciphertext followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
    /// The 12-byte nonce.
    pub nonce: Vec<u8>,
}

impl MasterKey {
    /// Wraps raw key bytes (e.g. handed to a detached child process).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*bytes));
        MasterKey { cipher, bytes }
    }

    /// The raw key bytes, for handing the key to a detached child over a pipe.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Encrypts `plaintext` with a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Sealed> {
        let nonce: [u8; 12] = rand::rng().random();
        let ciphertext = self
            .cipher
            .encrypt(&Nonce::from(nonce), plaintext)
            .map_err(|_| Error::Crypto)?;
        Ok(Sealed {
            ciphertext,
            nonce: nonce.to_vec(),
        })
    }

    /// Decrypts a sealed value into a buffer that is wiped when dropped.
    pub fn open(&self, ciphertext: &[u8], nonce: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| Error::Crypto)?;
        self.cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| Error::Crypto)
    }

    /// Decrypts a sealed UTF-8 value.
    pub fn open_string(&self, ciphertext: &[u8], nonce: &[u8]) -> Result<Zeroizing<String>> {
        let mut bytes = self.open(ciphertext, nonce)?;
        match String::from_utf8(std::mem::take(&mut *bytes)) {
            Ok(s) => Ok(Zeroizing::new(s)),
            Err(e) => {
                e.into_bytes().zeroize();
                Err(Error::Crypto)
            }
        }
    }
}

/// Whether this database already has a master key (i.e. this is not the first start).
pub fn master_key_exists(conn: &Connection) -> Result<bool> {
    Ok(conn
        .query_row("SELECT 1 FROM master_key WHERE id = 1", [], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Unlocks the stored master key with `password`, or creates it on first start.
/// A wrong password yields [`Error::WrongPassword`].
pub fn unlock_or_init(conn: &Connection, password: &[u8]) -> Result<MasterKey> {
    let row = conn
        .query_row(
            "SELECT salt, sentinel, nonce, kdf_time, kdf_memory, kdf_threads FROM master_key WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    KdfParams {
                        time: r.get(3)?,
                        memory: r.get(4)?,
                        threads: r.get(5)?,
                    },
                ))
            },
        )
        .optional()?;
    match row {
        Some((salt, sentinel, nonce, kdf)) => {
            let key = MasterKey::from_bytes(*kdf.derive(password, &salt)?);
            match key.open(&sentinel, &nonce) {
                Ok(plain) if plain.as_slice() == SENTINEL => Ok(key),
                _ => Err(Error::WrongPassword),
            }
        }
        None => {
            let salt: [u8; 16] = rand::rng().random();
            let kdf = KdfParams::DEFAULT;
            let key = MasterKey::from_bytes(*kdf.derive(password, &salt)?);
            let sealed = key.seal(SENTINEL)?;
            conn.execute(
                "INSERT INTO master_key (id, salt, sentinel, nonce, kdf_time, kdf_memory, kdf_threads)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    salt.to_vec(),
                    sealed.ciphertext,
                    sealed.nonce,
                    kdf.time,
                    kdf.memory,
                    kdf.threads
                ],
            )?;
            Ok(key)
        }
    }
}

/// A stored password hash with its salt and parameters.
#[derive(Clone, Debug)]
pub struct PasswordHash {
    /// 32-byte Argon2id output.
    pub hash: Vec<u8>,
    /// 16-byte random salt.
    pub salt: Vec<u8>,
    /// Parameters used.
    pub params: KdfParams,
}

/// Hashes a human password with a fresh salt (slow by design: run it off the async runtime).
pub fn hash_password(password: &str) -> Result<PasswordHash> {
    let salt: [u8; 16] = rand::rng().random();
    let params = KdfParams::DEFAULT;
    let hash = params.derive(password.as_bytes(), &salt)?;
    Ok(PasswordHash {
        hash: hash.to_vec(),
        salt: salt.to_vec(),
        params,
    })
}

/// Verifies a password against a stored hash in constant time.
pub fn verify_password(password: &str, stored: &PasswordHash) -> bool {
    match stored.params.derive(password.as_bytes(), &stored.salt) {
        Ok(h) => crate::token::ct_eq(h.as_ref(), &stored.hash),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Store;

    #[test]
    fn seal_and_open_round_trip_with_fresh_nonces() {
        let key = MasterKey::from_bytes([7u8; 32]);
        let a = key.seal(b"sk_live_secret").unwrap();
        let b = key.seal(b"sk_live_secret").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_eq!(a.ciphertext.len(), b"sk_live_secret".len() + 16);
        assert_eq!(
            key.open_string(&a.ciphertext, &a.nonce).unwrap().as_str(),
            "sk_live_secret"
        );
    }

    #[test]
    fn tampering_and_wrong_keys_fail() {
        let key = MasterKey::from_bytes([7u8; 32]);
        let mut s = key.seal(b"value").unwrap();
        assert!(MasterKey::from_bytes([8u8; 32])
            .open(&s.ciphertext, &s.nonce)
            .is_err());
        s.ciphertext[0] ^= 1;
        assert!(key.open(&s.ciphertext, &s.nonce).is_err());
        assert!(key.open(b"short", b"bad-nonce").is_err());
    }

    #[test]
    fn master_key_unlocks_only_with_the_right_password() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn().unwrap();
        assert!(!master_key_exists(&conn).unwrap());
        let k1 = unlock_or_init(&conn, b"correct horse").unwrap();
        assert!(master_key_exists(&conn).unwrap());
        let k2 = unlock_or_init(&conn, b"correct horse").unwrap();
        assert_eq!(k1.bytes(), k2.bytes());
        assert!(matches!(
            unlock_or_init(&conn, b"wrong"),
            Err(Error::WrongPassword)
        ));
        assert_eq!(format!("{k1:?}"), "MasterKey(..)");
    }

    #[test]
    fn passwords_verify() {
        let h = hash_password("hunter2hunter2").unwrap();
        assert!(verify_password("hunter2hunter2", &h));
        assert!(!verify_password("hunter2hunter3", &h));
    }
}

//! Store errors. Messages never carry secrets; callers map them to API answers.

/// Errors raised by the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed (I/O, constraint, busy beyond the timeout).
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// Filesystem trouble around the data directory.
    #[error("{0}")]
    Io(String),
    /// The master password does not unlock this database.
    #[error("wrong password")]
    WrongPassword,
    /// Encryption or decryption failed (tampered or foreign ciphertext).
    #[error("crypto failure")]
    Crypto,
}

/// Result with the store's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

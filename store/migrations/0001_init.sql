-- Agent Vault schema, version 1.
-- Timestamps are UTC text 'YYYY-MM-DD HH:MM:SS' so expiry checks compare lexically in SQL.
-- No raw token is ever stored: sessions, invites and approval links keep SHA-256 hex only.

CREATE TABLE master_key (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    salt        BLOB NOT NULL,
    sentinel    BLOB NOT NULL,
    nonce       BLOB NOT NULL,
    kdf_time    INTEGER NOT NULL,
    kdf_memory  INTEGER NOT NULL,
    kdf_threads INTEGER NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (datetime('now'))
);

CREATE TABLE vaults (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- One row per vault: its service rules as a JSON array (replaced as a whole).
CREATE TABLE broker_configs (
    id            TEXT PRIMARY KEY,
    vault_id      TEXT NOT NULL UNIQUE REFERENCES vaults(id) ON DELETE CASCADE,
    services_json TEXT NOT NULL DEFAULT '[]',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE credentials (
    id         TEXT PRIMARY KEY,
    vault_id   TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    nonce      BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (vault_id, key)
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash BLOB,
    password_salt BLOB,
    role          TEXT NOT NULL DEFAULT 'owner' CHECK (role IN ('owner', 'member')),
    kdf_time      INTEGER NOT NULL DEFAULT 3,
    kdf_memory    INTEGER NOT NULL DEFAULT 65536,
    kdf_threads   INTEGER NOT NULL DEFAULT 4,
    is_active     INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE agents (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    status     TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    role       TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Vault membership of users and agents alike.
CREATE TABLE vault_grants (
    actor_id   TEXT NOT NULL,
    actor_type TEXT NOT NULL CHECK (actor_type IN ('user', 'agent')),
    vault_id   TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    role       TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('proxy', 'member', 'admin')),
    created_at TEXT NOT NULL,
    PRIMARY KEY (actor_id, vault_id)
);
CREATE INDEX idx_vault_grants_vault ON vault_grants(vault_id);
CREATE INDEX idx_vault_grants_actor ON vault_grants(actor_id);

-- Login sessions (user_id), scoped sessions (vault_id + vault_role) and agent tokens (agent_id).
-- id is the SHA-256 hex of the raw token.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    expires_at TEXT,
    created_at TEXT NOT NULL,
    vault_id   TEXT REFERENCES vaults(id) ON DELETE CASCADE,
    user_id    TEXT REFERENCES users(id) ON DELETE CASCADE,
    agent_id   TEXT REFERENCES agents(id) ON DELETE CASCADE,
    vault_role TEXT CHECK (vault_role IS NULL OR vault_role IN ('proxy', 'member', 'admin'))
);
CREATE INDEX idx_sessions_user ON sessions(user_id);
CREATE INDEX idx_sessions_agent ON sessions(agent_id);
CREATE INDEX idx_sessions_vault ON sessions(vault_id);

-- Agent invites and rotation invites (agent_id set).
CREATE TABLE invites (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash          TEXT NOT NULL UNIQUE,
    token_suffix        TEXT NOT NULL,
    agent_name          TEXT NOT NULL,
    agent_id            TEXT REFERENCES agents(id) ON DELETE CASCADE,
    agent_role          TEXT NOT NULL DEFAULT 'member' CHECK (agent_role IN ('owner', 'member')),
    session_ttl_seconds INTEGER,
    status              TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'redeemed', 'expired', 'revoked')),
    minted_session_id   TEXT,
    created_by          TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    expires_at          TEXT NOT NULL,
    redeemed_at         TEXT,
    revoked_at          TEXT
);
CREATE INDEX idx_invites_status ON invites(status);
CREATE INDEX idx_invites_agent_name ON invites(agent_name);

CREATE TABLE agent_invite_vaults (
    invite_id  INTEGER NOT NULL REFERENCES invites(id) ON DELETE CASCADE,
    vault_id   TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    vault_role TEXT NOT NULL DEFAULT 'proxy' CHECK (vault_role IN ('proxy', 'member', 'admin')),
    PRIMARY KEY (invite_id, vault_id)
);

-- Proposals: id is a per-vault sequence. created_by_* record the actor, never a token.
CREATE TABLE proposals (
    id                        INTEGER NOT NULL,
    vault_id                  TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    created_by_agent_id       TEXT,
    created_by_user_id        TEXT,
    status                    TEXT NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'applied', 'rejected', 'expired')),
    services_json             TEXT NOT NULL DEFAULT '[]',
    credentials_json          TEXT NOT NULL DEFAULT '[]',
    message                   TEXT NOT NULL DEFAULT '',
    user_message              TEXT NOT NULL DEFAULT '',
    review_note               TEXT NOT NULL DEFAULT '',
    reviewed_by               TEXT,
    reviewed_at               TEXT,
    approval_token_hash       TEXT NOT NULL,
    approval_token_expires_at TEXT NOT NULL,
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL,
    PRIMARY KEY (vault_id, id)
);
CREATE INDEX idx_proposals_vault_status ON proposals(vault_id, status);
CREATE INDEX idx_proposals_approval ON proposals(approval_token_hash);

CREATE TABLE proposal_credentials (
    vault_id    TEXT NOT NULL,
    proposal_id INTEGER NOT NULL,
    key         TEXT NOT NULL,
    ciphertext  BLOB NOT NULL,
    nonce       BLOB NOT NULL,
    PRIMARY KEY (vault_id, proposal_id, key),
    FOREIGN KEY (vault_id, proposal_id) REFERENCES proposals(vault_id, id) ON DELETE CASCADE
);

CREATE TABLE user_invites (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash   TEXT NOT NULL UNIQUE,
    token_suffix TEXT NOT NULL,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'accepted', 'expired', 'revoked')),
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    accepted_at  TEXT
);
CREATE INDEX idx_user_invites_email ON user_invites(email, status);

CREATE TABLE user_invite_vaults (
    user_invite_id INTEGER NOT NULL REFERENCES user_invites(id) ON DELETE CASCADE,
    vault_id       TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    vault_role     TEXT NOT NULL DEFAULT 'member' CHECK (vault_role IN ('admin', 'member')),
    PRIMARY KEY (user_invite_id, vault_id)
);

CREATE TABLE email_verifications (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    email      TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified', 'expired')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX idx_email_verifications_email ON email_verifications(email, status);

CREATE TABLE password_resets (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    email      TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'used', 'expired')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX idx_password_resets_email ON password_resets(email, status);

CREATE TABLE instance_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Every write the proxy must see bumps this counter (see the triggers below), so a proxy in
-- this or another process can detect changes with one cheap read.
CREATE TABLE change_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL
);

INSERT INTO vaults (id, name, created_at, updated_at)
VALUES ('00000000-0000-0000-0000-000000000000', 'default', datetime('now'), datetime('now'));
INSERT INTO broker_configs (id, vault_id, services_json, created_at, updated_at)
VALUES (lower(hex(randomblob(16))), '00000000-0000-0000-0000-000000000000', '[]',
        datetime('now'), datetime('now'));

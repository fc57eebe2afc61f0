-- Access control (issue #25): the keys `memoryd key create` makes, and who wrote each memory.
--
-- A key is kept without its secret: only the SHA-256 of the secret (32 bytes), which the
-- server compares in constant time. Every server of the database reads this table, so keys
-- and revocations are shared. Namespaces are the key's patterns as a JSON array of strings;
-- times are RFC 3339 UTC text, as everywhere, so text order is time order.
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    scope      TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    namespaces TEXT NOT NULL,
    hash       BLOB NOT NULL CHECK (length(hash) = 32),
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);

-- Who stored a memory and who made its current version: a key's label or a token's `sub`.
-- Memories stored before, or by the local user, have none. Neither column is searched or
-- indexed in memory, so no trigger or log follows them.
ALTER TABLE memories ADD COLUMN created_by TEXT;
ALTER TABLE memories ADD COLUMN updated_by TEXT;

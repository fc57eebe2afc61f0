-- Access control (issue #25): the keys `memoryd key create` makes, and who wrote each memory.
--
-- A key is kept without its secret: only the SHA-256 of the secret (32 bytes), which the
-- server compares in constant time. Every server of the fleet reads this table, so keys and
-- revocations are shared. Times are RFC 3339 UTC text compared bytewise, as everywhere.
CREATE TABLE api_keys (
    id         text COLLATE "C" PRIMARY KEY,
    label      text NOT NULL,
    scope      text NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    namespaces text[] NOT NULL,
    hash       bytea NOT NULL CHECK (octet_length(hash) = 32),
    created_at text COLLATE "C" NOT NULL,
    expires_at text COLLATE "C",
    revoked_at text COLLATE "C"
);

-- Who stored a memory and who made its current version: a key's label or a token's `sub`.
-- Memories stored before, or by the local user, have none. (A nullable column without a
-- default rewrites no rows; neither is searched, so the text log's trigger ignores them.)
ALTER TABLE memories ADD COLUMN created_by text;
ALTER TABLE memories ADD COLUMN updated_by text;

-- Memory expiry (issue #24): a memory may carry expires_at (RFC 3339, UTC, as every stored
-- time, so text order is time order). From then on no read finds it; the sweep purges it
-- [lifecycle] purge_after later. Existing memories never expire.

ALTER TABLE memories ADD COLUMN expires_at TEXT;

-- Few memories expire: the sweep, the filters' "not yet expired" check on a candidate and
-- /metrics' count read only these.
CREATE INDEX memories_expiry ON memories (expires_at) WHERE expires_at IS NOT NULL;

-- The in-memory indexes leave expired memories out by their expiry time: a changed expiry is
-- a change each process's copy must re-read, whichever process made it.
CREATE TRIGGER memories_expiry_log AFTER UPDATE OF expires_at ON memories
WHEN old.expires_at IS NOT new.expires_at BEGIN
    INSERT INTO text_log (memory_rowid) VALUES (old.rowid);
    INSERT INTO vector_log (memory_rowid) VALUES (old.rowid);
END;

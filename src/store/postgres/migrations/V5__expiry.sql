-- Memory expiry (issue #24): a memory may carry expires_at (RFC 3339, UTC, as every stored
-- time, so text order is time order). From then on no read finds it; the sweep purges it
-- [lifecycle] purge_after later. Existing memories never expire. (A nullable column without
-- a default rewrites no rows.)

ALTER TABLE memories ADD COLUMN expires_at text COLLATE "C";

-- Few memories expire: the sweep and /metrics' count read only these.
CREATE INDEX memories_expiry ON memories (expires_at) WHERE expires_at IS NOT NULL;

-- The in-memory keyword index leaves expired memories out by their expiry time: a changed
-- expiry is a change every process's index must re-read. Same function as V4's, with that one
-- condition more.
CREATE OR REPLACE FUNCTION memoryd_log_text() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    logged bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO text_log (memory_rowid) VALUES (OLD.rowid) RETURNING seq INTO logged;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO text_log (memory_rowid) VALUES (NEW.rowid) RETURNING seq INTO logged;
    ELSIF OLD.title IS DISTINCT FROM NEW.title
        OR OLD.content IS DISTINCT FROM NEW.content
        OR OLD.tags IS DISTINCT FROM NEW.tags
        OR OLD.superseded_by IS DISTINCT FROM NEW.superseded_by
        OR OLD.expires_at IS DISTINCT FROM NEW.expires_at THEN
        INSERT INTO text_log (memory_rowid) VALUES (NEW.rowid) RETURNING seq INTO logged;
    END IF;
    -- Only the recent past is kept: an index that fell further behind reloads whole.
    IF logged % 1024 = 0 THEN
        DELETE FROM text_log WHERE seq <= logged - 4096;
    END IF;
    RETURN NULL;
END
$$;

-- Memories that change (issue #24): a memory carries its version (1 when stored, one more per
-- update), may be superseded by a newer memory (which it names in superseded_by, and until
-- whose occurred_at it held: valid_until), and keeps its earlier states in memory_versions.
-- Existing memories become version 1, current, with no history. (Adding a column with a
-- constant default rewrites no rows.)

ALTER TABLE memories ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE memories ADD COLUMN superseded_by text COLLATE "C";
ALTER TABLE memories ADD COLUMN valid_until text COLLATE "C";

-- Few memories are superseded: counting them (/metrics) reads only these.
CREATE INDEX memories_superseded ON memories (namespace) WHERE superseded_by IS NOT NULL;

-- One row per earlier state: the whole state as JSON (memory::Version), so history and
-- export keep every field. A deleted memory takes its history with it.
CREATE TABLE memory_versions (
    memory_id  text COLLATE "C" NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
    version    integer NOT NULL,
    changed_at text COLLATE "C" NOT NULL,
    changed_by text,
    state      text NOT NULL,
    PRIMARY KEY (memory_id, version)
);

-- The in-memory keyword index leaves superseded memories out of default searches: a
-- supersede (or its undoing) is a change every process's index must re-read. Same function as
-- V2's, with that one condition more.
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
        OR OLD.superseded_by IS DISTINCT FROM NEW.superseded_by THEN
        INSERT INTO text_log (memory_rowid) VALUES (NEW.rowid) RETURNING seq INTO logged;
    END IF;
    -- Only the recent past is kept: an index that fell further behind reloads whole.
    IF logged % 1024 = 0 THEN
        DELETE FROM text_log WHERE seq <= logged - 4096;
    END IF;
    RETURN NULL;
END
$$;

-- Memories that change (issue #24): a memory carries its version (1 when stored, one more per
-- update), may be superseded by a newer memory (which it names in superseded_by, and until
-- whose occurred_at it held: valid_until), and keeps its earlier states in memory_versions.
-- Existing memories become version 1, current, with no history.

ALTER TABLE memories ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE memories ADD COLUMN superseded_by TEXT;
ALTER TABLE memories ADD COLUMN valid_until TEXT;

-- Few memories are superseded: counting them (/metrics) reads only these.
CREATE INDEX memories_superseded ON memories (namespace) WHERE superseded_by IS NOT NULL;

-- One row per earlier state: the whole state as JSON (store::memory::Version), so history and
-- export keep every field; the columns beside it are what reads order and select by.
CREATE TABLE memory_versions (
    memory_id  TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    changed_at TEXT    NOT NULL,
    changed_by TEXT,
    state      TEXT    NOT NULL,
    PRIMARY KEY (memory_id, version)
);

-- A deleted memory takes its history with it.
CREATE TRIGGER memories_versions_delete AFTER DELETE ON memories BEGIN
    DELETE FROM memory_versions WHERE memory_id = old.id;
END;

-- The in-memory indexes leave superseded memories out of default searches: a supersede (or
-- its undoing) is a change each process's copy must re-read, whichever process made it.
CREATE TRIGGER memories_supersede_log AFTER UPDATE OF superseded_by ON memories
WHEN old.superseded_by IS NOT new.superseded_by BEGIN
    INSERT INTO text_log (memory_rowid) VALUES (old.rowid);
    INSERT INTO vector_log (memory_rowid) VALUES (old.rowid);
END;

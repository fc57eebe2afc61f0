-- The first schema: memories, their FTS5 index, and the triggers that keep the index in step
-- with every write inside the same transaction.

CREATE TABLE memories (
    -- The integer rowid joins FTS5 (and later vec0) rows to memories and orders list pages.
    rowid        INTEGER PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    namespace    TEXT    NOT NULL,
    content      TEXT    NOT NULL,
    title        TEXT,
    kind         TEXT    NOT NULL,
    -- Tags and roles are JSON arrays of strings; FTS5 tokenizes the JSON text of tags as words.
    tags         TEXT    NOT NULL DEFAULT '[]',
    source       TEXT,
    anchor       TEXT,
    roles        TEXT    NOT NULL DEFAULT '[]',
    priority     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    occurred_at  TEXT    NOT NULL,
    metadata     TEXT    NOT NULL DEFAULT '{}',
    content_hash TEXT    NOT NULL
);

-- Writes are idempotent on (namespace, content_hash): this index is the rule, not the code.
CREATE UNIQUE INDEX memories_namespace_hash ON memories (namespace, content_hash);
CREATE INDEX memories_namespace_rowid ON memories (namespace, rowid);
CREATE INDEX memories_namespace_occurred ON memories (namespace, occurred_at);

CREATE VIRTUAL TABLE memories_fts USING fts5 (
    title,
    content,
    tags,
    content = 'memories',
    content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, title, content, tags)
    VALUES (new.rowid, new.title, new.content, new.tags);
END;

CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, title, content, tags)
    VALUES ('delete', old.rowid, old.title, old.content, old.tags);
END;

CREATE TRIGGER memories_fts_update AFTER UPDATE OF title, content, tags ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, title, content, tags)
    VALUES ('delete', old.rowid, old.title, old.content, old.tags);
    INSERT INTO memories_fts (rowid, title, content, tags)
    VALUES (new.rowid, new.title, new.content, new.tags);
END;

-- A counter that every write to memories bumps, in the same transaction. Cached rehydrate
-- bundles are keyed by it, so a write by any process (another stdio server, the CLI) makes
-- the next call recompute; an in-process counter would miss other processes' writes.

CREATE TABLE store_generation (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO store_generation (id, value) VALUES (1, 0);

CREATE TRIGGER memories_generation_insert AFTER INSERT ON memories BEGIN
    UPDATE store_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER memories_generation_update AFTER UPDATE ON memories BEGIN
    UPDATE store_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER memories_generation_delete AFTER DELETE ON memories BEGIN
    UPDATE store_generation SET value = value + 1 WHERE id = 1;
END;

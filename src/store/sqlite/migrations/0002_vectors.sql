-- Embeddings arrive: a vec0 index of one vector per memory (same rowid), partitioned by
-- namespace so a KNN search only scans its own namespace, and a table recording which model
-- made the vectors so a database is never searched with vectors of two models.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE VIRTUAL TABLE memory_vectors USING vec0 (
    namespace text partition key,
    embedding float[384] distance_metric=cosine
);

-- A deleted memory takes its vector with it.
CREATE TRIGGER memories_vectors_delete AFTER DELETE ON memories BEGIN
    DELETE FROM memory_vectors WHERE rowid = old.rowid;
END;

-- A vector of old content is never searched: changing content drops it in the same
-- transaction, and the writer (or the backfill) adds the new one.
-- (WHEN: an UPDATE that sets content to the same value keeps the vector.)
CREATE TRIGGER memories_vectors_stale AFTER UPDATE OF content ON memories
WHEN old.content IS NOT new.content BEGIN
    DELETE FROM memory_vectors WHERE rowid = old.rowid;
END;

-- Every change to memory_vectors, in order, so each process's in-memory copy of the vectors
-- (store/vector_index.rs) can apply what changed instead of reloading whole namespaces after
-- every write. Before this, a write anywhere dropped the copy: under steady writes nearly every
-- search reloaded all of its namespace's vectors.
--
-- A row names a memory whose vector was added, replaced or removed; a NULL rowid means every
-- vector went (re-embedding with another model). vec0 tables take no triggers, so the removals
-- that follow writes to memories are logged by the triggers below and the rest by the Rust
-- code that writes memory_vectors (store/vectors.rs).

CREATE TABLE vector_log (
    seq          INTEGER PRIMARY KEY,
    memory_rowid INTEGER
);

CREATE TRIGGER memories_vector_log_delete AFTER DELETE ON memories BEGIN
    INSERT INTO vector_log (memory_rowid) VALUES (old.rowid);
END;

CREATE TRIGGER memories_vector_log_stale AFTER UPDATE OF content, context ON memories
WHEN old.content IS NOT new.content OR old.context IS NOT new.context BEGIN
    INSERT INTO vector_log (memory_rowid) VALUES (old.rowid);
END;

-- Only the recent past is kept: a copy that fell further behind than this reloads whole.
CREATE TRIGGER vector_log_prune AFTER INSERT ON vector_log WHEN new.seq % 1024 = 0 BEGIN
    DELETE FROM vector_log WHERE seq <= new.seq - 4096;
END;

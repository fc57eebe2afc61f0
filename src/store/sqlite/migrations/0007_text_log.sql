-- Every change to the text that keyword search reads (title, content, tags), in order, so each
-- process's in-memory keyword index (store/keyword_index.rs) can re-read just the memories
-- that changed, whichever process changed them. Same shape and pruning as vector_log.

CREATE TABLE text_log (
    seq          INTEGER PRIMARY KEY,
    memory_rowid INTEGER NOT NULL
);

CREATE TRIGGER memories_text_log_insert AFTER INSERT ON memories BEGIN
    INSERT INTO text_log (memory_rowid) VALUES (new.rowid);
END;

CREATE TRIGGER memories_text_log_update AFTER UPDATE OF title, content, tags ON memories
WHEN old.title IS NOT new.title OR old.content IS NOT new.content OR old.tags IS NOT new.tags
BEGIN
    INSERT INTO text_log (memory_rowid) VALUES (old.rowid);
END;

CREATE TRIGGER memories_text_log_delete AFTER DELETE ON memories BEGIN
    INSERT INTO text_log (memory_rowid) VALUES (old.rowid);
END;

CREATE TRIGGER text_log_prune AFTER INSERT ON text_log WHEN new.seq % 1024 = 0 BEGIN
    DELETE FROM text_log WHERE seq <= new.seq - 4096;
END;

-- Writes to different namespaces no longer take turns. Until now every writing transaction
-- updated the one store_generation row, so every write in the fleet queued on its row lock,
-- and text_log relied on that queue to be numbered in commit order.
--
-- 1. Generations per namespace. Statement-level triggers bump the row of each namespace a
--    statement wrote (in namespace order, so two statements over several namespaces cannot
--    deadlock on them), once per statement rather than once per row. Writers to one
--    namespace still queue on its row; writers to others do not. A namespace with no row is
--    at generation 0; existing ones start at the old store-wide value, so none goes back.
--
-- 2. text_log is numbered by its readers (what V5 logs, unchanged). Writers append to text_changes, whose numbers are
--    drawn in no useful order; a reader moves every committed change into text_log under an
--    advisory lock before it reads (see store/postgres/sources.rs), so text_log is numbered
--    in the order changes became visible: a reader that sees entry N sees every entry before
--    it, as before. A NULL memory_rowid stands for "changes were dropped; reload".

CREATE TABLE namespace_generations (
    namespace text COLLATE "C" PRIMARY KEY,
    value     bigint NOT NULL
);

INSERT INTO namespace_generations (namespace, value)
    SELECT DISTINCT namespace, (SELECT value FROM store_generation WHERE id = 1) FROM memories;

DROP TRIGGER memories_generation ON memories;
DROP FUNCTION memoryd_bump_generation();
DROP TABLE store_generation;

CREATE FUNCTION memoryd_bump_namespaces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO namespace_generations (namespace, value)
            SELECT namespace, 1 FROM new_rows GROUP BY namespace ORDER BY namespace
            ON CONFLICT (namespace) DO UPDATE SET value = namespace_generations.value + 1;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO namespace_generations (namespace, value)
            SELECT namespace, 1 FROM old_rows GROUP BY namespace ORDER BY namespace
            ON CONFLICT (namespace) DO UPDATE SET value = namespace_generations.value + 1;
    ELSE
        INSERT INTO namespace_generations (namespace, value)
            SELECT namespace, 1 FROM
                (SELECT namespace FROM new_rows UNION SELECT namespace FROM old_rows) touched
            ORDER BY namespace
            ON CONFLICT (namespace) DO UPDATE SET value = namespace_generations.value + 1;
    END IF;
    RETURN NULL;
END
$$;

-- Transition tables allow one event per trigger, hence three.
CREATE TRIGGER memories_generation_insert AFTER INSERT ON memories
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION memoryd_bump_namespaces();
CREATE TRIGGER memories_generation_update AFTER UPDATE ON memories
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION memoryd_bump_namespaces();
CREATE TRIGGER memories_generation_delete AFTER DELETE ON memories
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION memoryd_bump_namespaces();

CREATE TABLE text_changes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    memory_rowid bigint
);

ALTER TABLE text_log ALTER COLUMN memory_rowid DROP NOT NULL;

CREATE OR REPLACE FUNCTION memoryd_log_text() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    logged bigint;
    dropped bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO text_changes (memory_rowid) VALUES (OLD.rowid) RETURNING id INTO logged;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO text_changes (memory_rowid) VALUES (NEW.rowid) RETURNING id INTO logged;
    ELSIF OLD.title IS DISTINCT FROM NEW.title
        OR OLD.content IS DISTINCT FROM NEW.content
        OR OLD.tags IS DISTINCT FROM NEW.tags
        OR OLD.superseded_by IS DISTINCT FROM NEW.superseded_by
        OR OLD.expires_at IS DISTINCT FROM NEW.expires_at THEN
        INSERT INTO text_changes (memory_rowid) VALUES (NEW.rowid) RETURNING id INTO logged;
    END IF;
    -- When nobody reads the log (keyword search by tsvector), changes would pile up: keep
    -- the recent past and leave a marker that makes any later reader reload. Rows another
    -- transaction is moving or dropping are skipped, so writers never wait on each other.
    IF logged % 1024 = 0 THEN
        WITH gone AS (
            DELETE FROM text_changes WHERE id IN (
                SELECT id FROM text_changes WHERE id <= logged - 8192 FOR UPDATE SKIP LOCKED)
            RETURNING id)
        SELECT count(*) INTO dropped FROM gone;
        IF dropped > 0 THEN
            INSERT INTO text_changes (memory_rowid) VALUES (NULL);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

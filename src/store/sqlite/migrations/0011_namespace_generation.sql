-- Generations per namespace instead of one for the whole store: a write moves only its own
-- namespace's number, so cached bundles of other namespaces stay valid, and the engines share
-- one shape (on PostgreSQL the single row was also a lock every writer queued on). A
-- namespace with no row is at generation 0. Existing namespaces start at the old store-wide
-- value, so no namespace's number ever goes back.

CREATE TABLE namespace_generations (
    namespace TEXT PRIMARY KEY,
    value     INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO namespace_generations (namespace, value)
    SELECT DISTINCT namespace, (SELECT value FROM store_generation WHERE id = 1) FROM memories
    WHERE true;

DROP TRIGGER memories_generation_insert;
DROP TRIGGER memories_generation_update;
DROP TRIGGER memories_generation_delete;
DROP TABLE store_generation;

CREATE TRIGGER memories_generation_insert AFTER INSERT ON memories BEGIN
    INSERT INTO namespace_generations (namespace, value) VALUES (NEW.namespace, 1)
        ON CONFLICT (namespace) DO UPDATE SET value = value + 1;
END;
-- A memory moved to another namespace changes both.
CREATE TRIGGER memories_generation_update AFTER UPDATE ON memories BEGIN
    INSERT INTO namespace_generations (namespace, value) VALUES (NEW.namespace, 1)
        ON CONFLICT (namespace) DO UPDATE SET value = value + 1;
    INSERT INTO namespace_generations (namespace, value)
        SELECT OLD.namespace, 1 WHERE OLD.namespace <> NEW.namespace
        ON CONFLICT (namespace) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER memories_generation_delete AFTER DELETE ON memories BEGIN
    INSERT INTO namespace_generations (namespace, value) VALUES (OLD.namespace, 1)
        ON CONFLICT (namespace) DO UPDATE SET value = value + 1;
END;

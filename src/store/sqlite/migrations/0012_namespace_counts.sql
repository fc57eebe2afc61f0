-- Each namespace's row also counts its memories, so /health, /health/ready, /metrics, the
-- browser and completions read one row per namespace instead of counting every memory of
-- the database on each call. The triggers already write these rows on every change.

ALTER TABLE namespace_generations ADD COLUMN memories INTEGER NOT NULL DEFAULT 0;

INSERT INTO namespace_generations (namespace, value, memories)
    SELECT namespace, 0, count(*) FROM memories WHERE true GROUP BY namespace
    ON CONFLICT (namespace) DO UPDATE SET memories = excluded.memories;

DROP TRIGGER memories_generation_insert;
DROP TRIGGER memories_generation_update;
DROP TRIGGER memories_generation_delete;

CREATE TRIGGER memories_generation_insert AFTER INSERT ON memories BEGIN
    INSERT INTO namespace_generations (namespace, value, memories) VALUES (NEW.namespace, 1, 1)
        ON CONFLICT (namespace) DO UPDATE SET value = value + 1, memories = memories + 1;
END;
-- A memory moved to another namespace leaves one count and joins the other.
CREATE TRIGGER memories_generation_update AFTER UPDATE ON memories BEGIN
    INSERT INTO namespace_generations (namespace, value, memories)
        VALUES (NEW.namespace, 1, OLD.namespace <> NEW.namespace)
        ON CONFLICT (namespace) DO UPDATE SET value = value + 1,
            memories = memories + (OLD.namespace <> NEW.namespace);
    INSERT INTO namespace_generations (namespace, value, memories)
        SELECT OLD.namespace, 1, -1 WHERE OLD.namespace <> NEW.namespace
        ON CONFLICT (namespace) DO UPDATE SET value = value + 1, memories = memories - 1;
END;
CREATE TRIGGER memories_generation_delete AFTER DELETE ON memories BEGIN
    INSERT INTO namespace_generations (namespace, value, memories) VALUES (OLD.namespace, 1, -1)
        ON CONFLICT (namespace) DO UPDATE SET value = value + 1, memories = memories - 1;
END;

-- A bundle's cache key holds its namespace's next expiry (so an expiry elsewhere does not
-- empty every namespace's cache): one probe of this index per rehydrate.
CREATE INDEX memories_namespace_expiry ON memories (namespace, expires_at)
    WHERE expires_at IS NOT NULL;

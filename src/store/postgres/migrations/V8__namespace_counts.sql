-- Each namespace's row also counts its memories, so /health, /health/ready, /metrics, the
-- browser and completions read one row per namespace instead of counting every memory of
-- the database on each call (at a million memories that count was most of a server's time
-- to ready). The statement-level triggers of V7 already update these rows, one per namespace
-- a statement wrote, so keeping the count costs no extra row and no extra lock.

-- Writers of other servers are kept out until this commits, so no memory is counted twice or
-- missed. The lock is taken first: a writer already under way finishes before the count, and
-- none can be left waiting on namespace_generations while holding memories.
LOCK TABLE memories IN SHARE MODE;

ALTER TABLE namespace_generations ADD COLUMN memories bigint NOT NULL DEFAULT 0;

INSERT INTO namespace_generations (namespace, value, memories)
    SELECT namespace, 0, count(*) FROM memories GROUP BY namespace
    ON CONFLICT (namespace) DO UPDATE SET memories = EXCLUDED.memories;

CREATE OR REPLACE FUNCTION memoryd_bump_namespaces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO namespace_generations (namespace, value, memories)
            SELECT namespace, 1, count(*) FROM new_rows GROUP BY namespace ORDER BY namespace
            ON CONFLICT (namespace) DO UPDATE SET value = namespace_generations.value + 1,
                memories = namespace_generations.memories + EXCLUDED.memories;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO namespace_generations (namespace, value, memories)
            SELECT namespace, 1, -count(*) FROM old_rows GROUP BY namespace ORDER BY namespace
            ON CONFLICT (namespace) DO UPDATE SET value = namespace_generations.value + 1,
                memories = namespace_generations.memories + EXCLUDED.memories;
    ELSE
        -- A memory moved to another namespace leaves one count and joins the other.
        INSERT INTO namespace_generations (namespace, value, memories)
            SELECT namespace, 1, sum(moved) FROM
                (SELECT namespace, 1 AS moved FROM new_rows
                 UNION ALL SELECT namespace, -1 FROM old_rows) touched
            GROUP BY namespace ORDER BY namespace
            ON CONFLICT (namespace) DO UPDATE SET value = namespace_generations.value + 1,
                memories = namespace_generations.memories + EXCLUDED.memories;
    END IF;
    RETURN NULL;
END
$$;

-- A bundle's cache key holds its namespace's next expiry (so an expiry elsewhere does not
-- empty every namespace's cache): one probe of this index per rehydrate.
CREATE INDEX memories_namespace_expiry ON memories (namespace, expires_at)
    WHERE expires_at IS NOT NULL;

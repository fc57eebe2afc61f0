-- The first PostgreSQL schema: memories with their vector (pgvector) and full-text document
-- in the same row, so a write and its vector commit together, and a counter every write
-- bumps so that every process's caches see every other process's writes.
--
-- Timestamps are the same normalised RFC 3339 text SQLite stores, compared bytewise
-- (COLLATE "C"), so both engines order and filter them identically.

CREATE TABLE memories (
    rowid        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           text COLLATE "C" NOT NULL UNIQUE,
    namespace    text COLLATE "C" NOT NULL,
    content      text NOT NULL,
    title        text,
    kind         text COLLATE "C" NOT NULL,
    -- JSON arrays of strings; jsonb so that `?` finds a tag or role through the index.
    tags         jsonb NOT NULL DEFAULT '[]',
    source       text,
    anchor       text,
    roles        jsonb NOT NULL DEFAULT '[]',
    priority     integer NOT NULL DEFAULT 0,
    created_at   text COLLATE "C" NOT NULL,
    updated_at   text COLLATE "C" NOT NULL,
    occurred_at  text COLLATE "C" NOT NULL,
    -- Kept as the JSON text written (jsonb would reorder keys and reformat numbers).
    metadata     text NOT NULL DEFAULT '{}',
    content_hash text COLLATE "C" NOT NULL,
    context      text,
    -- NULL until embedded (the model was not ready, or the text changed since).
    embedding    vector(384),
    -- Title weighs more than content and tags, as in the SQLite engine's ranking.
    search       tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A')
        || to_tsvector('english', content)
        || to_tsvector('english', tags::text)
    ) STORED
);

-- Keep vectors in the row (compressed or moved out only as a last resort) rather than in
-- TOAST: a scan that has to fetch each vector from TOAST took 36 ms at 10,000 memories
-- (7.9 ms inline), and the planner, which does not price that, chose it over the HNSW index.
ALTER TABLE memories ALTER COLUMN embedding SET STORAGE MAIN;

-- Writes are idempotent on (namespace, content_hash): this index is the rule, not the code,
-- and it holds across processes and machines (INSERT ... ON CONFLICT).
CREATE UNIQUE INDEX memories_namespace_hash ON memories (namespace, content_hash);
CREATE INDEX memories_namespace_rowid ON memories (namespace, rowid);
CREATE INDEX memories_namespace_occurred ON memories (namespace, occurred_at);
CREATE INDEX memories_pinned ON memories (namespace, priority) WHERE roles <> '[]'::jsonb;
CREATE INDEX memories_pending ON memories (rowid) WHERE embedding IS NULL;
CREATE INDEX memories_search ON memories USING gin (search);
CREATE INDEX memories_embedding ON memories USING hnsw (embedding vector_cosine_ops);

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- Cached rehydrate bundles are keyed by this counter. Its one row is updated inside every
-- writing transaction, so writers queue on its row lock and commit in counter order.
CREATE TABLE store_generation (
    id    integer PRIMARY KEY CHECK (id = 1),
    value bigint NOT NULL
);
INSERT INTO store_generation (id, value) VALUES (1, 0);

CREATE FUNCTION memoryd_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE store_generation SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER memories_generation AFTER INSERT OR UPDATE OR DELETE ON memories
    FOR EACH ROW EXECUTE FUNCTION memoryd_bump_generation();

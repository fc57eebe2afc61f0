-- The fleet as the database sees it: every `memoryd serve` on this database records itself
-- here every few seconds and removes itself when it stops, so /health and /metrics of any
-- instance can say which others are serving. A killed instance's row stays, and is not
-- counted once it is older than a few heartbeats.

CREATE TABLE instances (
    id         text PRIMARY KEY,
    version    text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now()
);

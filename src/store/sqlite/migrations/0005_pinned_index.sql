-- Pins are few; without an index, finding a role's pins parses the roles JSON of every
-- memory in the namespace (10,000 rows: milliseconds on every rehydrate). This partial index
-- holds only memories pinned for some role.

CREATE INDEX memories_pinned ON memories (namespace, priority) WHERE roles != '[]';

-- Weir metadata, schema version 1: the ordered key-value store behind core.ports.KVStore.
-- Applied by `weir db migrate` (or on first start against an empty database) with search_path
-- set to the configured schema. See docs/decisions/0016-postgresql-metadata.md.

-- Every key of at most 2,000 bytes, as it is. bytea compares as unsigned bytes, shorter first on
-- a common prefix: exactly the byte order the port promises, so the primary key's B-tree serves
-- every ordered scan.
CREATE TABLE kv (
    k bytea PRIMARY KEY,
    v bytea NOT NULL
) WITH (fillfactor = 90);  -- room for HOT updates of the few hot rows (branch heads, counters)

-- Keys of 2,001 to 4,096 bytes. A B-tree entry holds at most ~2.7 kB, so such a key is unique by
-- its SHA-256 and ordered by its first 2,000 bytes: two long keys differ within those bytes
-- unless they share them, and then the (head, k) order is the k order.
CREATE TABLE kv_long (
    h bytea PRIMARY KEY CHECK (length(h) = 32),
    head bytea NOT NULL CHECK (length(head) = 2000),
    k bytea NOT NULL CHECK (length(k) > 2000),
    v bytea NOT NULL
);
CREATE INDEX kv_long_order ON kv_long (head);

-- Cross-process cache invalidation (core.ports: KVWriter.touch, KVStore.generation): a counter
-- per topic, bumped in the transaction that changes what the topic guards, with a NOTIFY that
-- PostgreSQL delivers at commit (gateway/meta/pg_notify.py).
CREATE TABLE generations (
    topic text PRIMARY KEY CHECK (octet_length(topic) BETWEEN 1 AND 200),
    gen bigint NOT NULL
);

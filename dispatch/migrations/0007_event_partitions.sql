-- Tablet events partitioned by month of received_at (the server's clock, never the tablet's), so that a month can be
-- detached and archived without touching the rest. A partitioned table's unique keys must contain the partition key,
-- so the keys that make a message stored once ((unit, seq) and (unit, uid)) move to event_keys, which is not
-- partitioned: the writer claims a key there and inserts the event in the same statement.
--
-- Partitions are made ahead by ensure_event_partitions (the service calls it at start and every hour); a row whose
-- month has no partition lands in events_default, never refused, and ensure_event_partitions moves it into its month
-- when that month's partition is made. detach_event_partitions detaches whole months before a cutoff: the tables
-- stay, to be archived and dropped by the operator; their keys stay in event_keys, so a resend is still stored once.

CREATE TABLE event_keys (
    unit        text        NOT NULL,
    seq         bigint      NOT NULL,
    uid         text,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (unit, seq)
);
CREATE UNIQUE INDEX event_keys_unit_uid ON event_keys (unit, uid) WHERE uid IS NOT NULL;
CREATE TRIGGER event_keys_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON event_keys
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
INSERT INTO event_keys (unit, seq, uid, received_at) SELECT unit, seq, uid, received_at FROM events;

ALTER TABLE events RENAME TO events_unpartitioned;
ALTER SEQUENCE events_id_seq OWNED BY NONE;
CREATE TABLE events (
    id          bigint      NOT NULL DEFAULT nextval('events_id_seq'),
    unit        text        NOT NULL,
    seq         bigint      NOT NULL,
    incident_id bigint,
    type        text        NOT NULL,
    taken_at    timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now(),
    body        jsonb       NOT NULL,
    uid         text GENERATED ALWAYS AS (body ->> 'uid') STORED
) PARTITION BY RANGE (received_at);
ALTER SEQUENCE events_id_seq OWNED BY events.id;
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- Append-only, on the parent and on every partition (row triggers are cloned to each partition; TRUNCATE triggers
-- are not, so ensure_event_partitions adds one to each partition it makes).
CREATE FUNCTION refuse_row_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER events_rows_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_row_change();
CREATE TRIGGER events_default_append_only BEFORE TRUNCATE ON events_default
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- The partition of the month that holds ``month``; made if missing, with any rows of that month moved out of the
-- default partition (in this transaction, so a reader sees them in one place or the other).
CREATE FUNCTION ensure_event_partition(month timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    low  timestamptz := date_trunc('month', month AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    high timestamptz := (date_trunc('month', month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
    name text := 'events_' || to_char(month AT TIME ZONE 'UTC', 'YYYY_MM');
    columns text := 'id, unit, seq, incident_id, type, taken_at, received_at, stored_at, body';
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('events partitions'));
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    IF EXISTS (SELECT 1 FROM events_default WHERE received_at >= low AND received_at < high) THEN
        EXECUTE format('CREATE TEMP TABLE moving ON COMMIT DROP AS SELECT %s FROM events_default '
                       'WHERE received_at >= $1 AND received_at < $2', columns) USING low, high;
        ALTER TABLE events_default DISABLE TRIGGER events_rows_append_only;
        DELETE FROM events_default WHERE received_at >= low AND received_at < high;
        ALTER TABLE events_default ENABLE TRIGGER events_rows_append_only;
        EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)', name, low, high);
        EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM moving', name, columns, columns);
        DROP TABLE moving;
    ELSE
        EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)', name, low, high);
    END IF;
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()',
                   name || '_append_only', name);
    RETURN name;
END $$;

-- The partitions of this month and the ``ahead`` months after it.
CREATE FUNCTION ensure_event_partitions(now timestamptz, ahead int) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT ensure_event_partition(now + make_interval(months => m)) FROM generate_series(0, ahead) AS m
$$;

-- Detach every monthly partition that ends at or before ``before``; returns the detached tables' names.
CREATE FUNCTION detach_event_partitions(before timestamptz) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_[0-9]{4}_[0-9]{2}$'
        ORDER BY c.relname
    LOOP
        IF (substring(part.bound FROM 'TO \(''([^'']+)''\)'))::timestamptz <= before THEN
            EXECUTE format('ALTER TABLE events DETACH PARTITION %I', part.name);
            RETURN NEXT part.name;
        END IF;
    END LOOP;
END $$;

-- The months that already hold events, then the events themselves.
SELECT ensure_event_partition(month) FROM (
    SELECT DISTINCT date_trunc('month', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month
    FROM events_unpartitioned
) AS months;
SELECT ensure_event_partitions(now(), 2);
INSERT INTO events (id, unit, seq, incident_id, type, taken_at, received_at, stored_at, body)
SELECT id, unit, seq, incident_id, type, taken_at, received_at, stored_at, body FROM events_unpartitioned;
DROP TABLE events_unpartitioned;

ALTER TABLE events ADD PRIMARY KEY (id, received_at);
CREATE INDEX events_by_incident ON events (incident_id, id);
CREATE INDEX events_by_unit ON events (unit, seq);

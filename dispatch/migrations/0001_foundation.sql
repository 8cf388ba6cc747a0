-- The record: incidents, every tablet event, every incident change. Events and changes are append-only.

CREATE TABLE incidents (
    id          bigserial PRIMARY KEY,
    region      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    complaint   text        NOT NULL,
    priority    smallint    NOT NULL CHECK (priority BETWEEN 1 AND 4),
    unit        text,
    destination text
);

-- Every change to an incident, who made it and why: the history the incidents row summarises.
CREATE TABLE incident_changes (
    id          bigserial PRIMARY KEY,
    incident_id bigint      NOT NULL REFERENCES incidents (id),
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    change      text        NOT NULL,
    detail      jsonb       NOT NULL
);
CREATE INDEX incident_changes_by_incident ON incident_changes (incident_id, id);

-- Every accepted tablet message, once: (unit, seq) is the tablet's own idempotency key.
CREATE TABLE events (
    id          bigserial PRIMARY KEY,
    unit        text        NOT NULL,
    seq         bigint      NOT NULL,
    incident_id bigint,
    type        text        NOT NULL,
    taken_at    timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now(),
    body        jsonb       NOT NULL,
    CONSTRAINT events_unit_seq UNIQUE (unit, seq)
);
CREATE INDEX events_by_incident ON events (incident_id, id);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER incident_changes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON incident_changes
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

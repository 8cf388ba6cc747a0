-- The ED's side: acknowledgements of pre-alerts, handovers with their offload time, and the destination decision
-- summary kept with the incident. Acknowledgements and handovers are append-only.

ALTER TABLE incidents ADD COLUMN decision jsonb;

CREATE TABLE acknowledgements (
    id          bigserial PRIMARY KEY,
    incident_id bigint      NOT NULL REFERENCES incidents (id),
    hospital    text        NOT NULL,
    at          timestamptz NOT NULL,
    actor       text        NOT NULL,
    note        text
);
CREATE INDEX acknowledgements_by_incident ON acknowledgements (incident_id, id);

CREATE TABLE handovers (
    id              bigserial PRIMARY KEY,
    incident_id     bigint      NOT NULL REFERENCES incidents (id),
    hospital        text        NOT NULL,
    arrived_at      timestamptz NOT NULL,
    transferred_at  timestamptz NOT NULL,
    offload_seconds integer     NOT NULL,
    actor           text        NOT NULL
);
CREATE INDEX handovers_by_hospital ON handovers (hospital, transferred_at);

CREATE TRIGGER acknowledgements_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON acknowledgements
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER handovers_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON handovers
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Interoperability: the ED's outcome for a patient it took over (a later report corrects an earlier one; both kept),
-- and care records read in from NEMSIS documents (with the document as received). Both append-only.

CREATE TABLE ed_outcomes (
    id          bigserial PRIMARY KEY,
    incident_id bigint      NOT NULL REFERENCES incidents (id),
    hospital    text        NOT NULL,
    at          timestamptz NOT NULL,
    actor       text        NOT NULL,
    body        jsonb       NOT NULL
);
CREATE INDEX ed_outcomes_by_incident ON ed_outcomes (incident_id, id);

CREATE TABLE imported_records (
    id          bigserial PRIMARY KEY,
    uuid        text        NOT NULL UNIQUE,
    record_id   text        NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now(),
    imported_by text        NOT NULL,
    record      jsonb       NOT NULL,
    document    text        NOT NULL
);

CREATE TRIGGER ed_outcomes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ed_outcomes
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER imported_records_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON imported_records
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

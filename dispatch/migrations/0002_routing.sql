-- Hospital ED status history (EDXL-HAVE) and destination decisions with their inputs and reasons. Append-only.

CREATE TABLE hospital_status_history (
    id          bigserial PRIMARY KEY,
    hospital    text        NOT NULL,
    at          timestamptz NOT NULL,
    actor       text        NOT NULL,
    ems_traffic text        NOT NULL,
    status      jsonb       NOT NULL
);
CREATE INDEX hospital_status_history_by_hospital ON hospital_status_history (hospital, at);

-- Every destination the dispatcher set: the recommendation at that moment (its inputs and ranking), the choice,
-- and, for an override, the NEMSIS eDisposition.20 reason and the dispatcher's words.
CREATE TABLE destination_decisions (
    id              bigserial PRIMARY KEY,
    incident_id     bigint      NOT NULL REFERENCES incidents (id),
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text        NOT NULL,
    hospital        text        NOT NULL,
    recommended     text,
    is_override     boolean     NOT NULL,
    reason_code     text        NOT NULL,
    reason_text     text,
    recommendation  jsonb
);
CREATE INDEX destination_decisions_by_incident ON destination_decisions (incident_id, id);

CREATE TRIGGER hospital_status_history_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON hospital_status_history
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER destination_decisions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON destination_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

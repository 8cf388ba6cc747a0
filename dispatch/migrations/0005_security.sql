-- Security and privacy: accounts and their sign-in sessions, unit crews, the hash-chained audit log, and the
-- research exports with their approvals.

CREATE TABLE accounts (
    username      text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9._@-]{1,64}$'),
    role          text        NOT NULL,
    scope         text,          -- hospital for ED roles and hospital systems, region for the others; NULL for crews
    password_hash text        NOT NULL,  -- argon2id
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A sign-in: refreshed by rotating its refresh secret (only its SHA-256 is kept); revoked as a whole.
CREATE TABLE auth_sessions (
    id               text PRIMARY KEY,
    username         text        NOT NULL REFERENCES accounts (username),
    role             text        NOT NULL,
    scope            text        NOT NULL,  -- for a paramedic, the unit the tablet is bound to
    created_at       timestamptz NOT NULL DEFAULT now(),
    refresh_hash     text        NOT NULL,
    refresh_expires  timestamptz NOT NULL,
    revoked_at       timestamptz,
    revoked_reason   text
);
CREATE INDEX auth_sessions_by_user ON auth_sessions (username) WHERE revoked_at IS NULL;
CREATE INDEX auth_sessions_by_scope ON auth_sessions (role, scope) WHERE revoked_at IS NULL;

-- Who crews each unit now: a paramedic may bind a tablet only to their own unit.
CREATE TABLE unit_crews (
    unit       text NOT NULL,
    username   text NOT NULL REFERENCES accounts (username),
    since      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit, username)
);

-- Every read and write of patient data, and every refusal. Append-only; each row's hash covers the previous row's
-- hash, so a changed, removed or inserted row breaks the chain from there on (`prealert audit verify`).
CREATE TABLE audit_log (
    seq        bigint PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    role       text        NOT NULL,
    action     text        NOT NULL,  -- read, write, refuse, sign-in, ...
    resource   text        NOT NULL,  -- the route or socket message
    incident   bigint,
    unit       text,
    hospital   text,
    purpose    text        NOT NULL,
    source     text        NOT NULL,  -- the client's address
    outcome    integer     NOT NULL,  -- the HTTP status or close code
    detail     text        NOT NULL,  -- canonical JSON
    prev_hash  text        NOT NULL,
    hash       text        NOT NULL
);
CREATE INDEX audit_log_by_incident ON audit_log (incident, seq) WHERE incident IS NOT NULL;
CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- A researcher's request for a de-identified export, for one named purpose; an administrator decides.
CREATE TABLE export_requests (
    id           bigserial PRIMARY KEY,
    researcher   text        NOT NULL,
    purpose      text        NOT NULL,
    fields       text[]      NOT NULL,
    period_from  timestamptz NOT NULL,
    period_to    timestamptz NOT NULL,
    k            integer     NOT NULL CHECK (k >= 2),
    requested_at timestamptz NOT NULL DEFAULT now(),
    state        text        NOT NULL DEFAULT 'requested' CHECK (state IN ('requested', 'approved', 'refused')),
    decided_by   text,
    decided_at   timestamptz,
    decision_note text,
    expires_at   timestamptz,   -- approved: runs allowed until then
    max_runs     integer,       -- approved: at most this many runs (NULL: any number until expiry)
    runs         integer     NOT NULL DEFAULT 0
);

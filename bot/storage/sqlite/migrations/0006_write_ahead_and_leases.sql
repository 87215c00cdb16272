-- A state for a submit on the wire (it may be billed), and a lease on every job until it is
-- delivered. SQLite cannot change a CHECK constraint in place, so the table is rebuilt.
CREATE TABLE jobs_new (
    id                      INTEGER PRIMARY KEY,
    user_id                 INTEGER NOT NULL,
    guild_id                INTEGER,              -- NULL for a direct message
    channel_id              INTEGER NOT NULL,
    state                   TEXT    NOT NULL CHECK (state IN
        ('reserved', 'submitting', 'submitted', 'completed', 'failed', 'released')),
    prompt                  TEXT    NOT NULL,
    size                    TEXT    NOT NULL,
    output_format           TEXT    NOT NULL,
    seed                    INTEGER NOT NULL,
    strength                REAL,                 -- only with a reference image
    reference_url           TEXT,
    prediction_id           TEXT    UNIQUE,
    reserved_cents          INTEGER NOT NULL,     -- the expected cost when admitted
    cost_cents              INTEGER,              -- what the API said it costs; NULL while unknown
    error_code              TEXT,                 -- 'OutcomeUnknown' flags a row to reconcile
    error                   TEXT,                 -- redacted detail, for operators
    created_at              REAL    NOT NULL,
    submitted_at            REAL,
    finished_at             REAL,
    reply_kind              TEXT    NOT NULL DEFAULT 'none',
    reply_message_id        INTEGER,
    reply_token             TEXT,                 -- interaction token, cleared once delivered
    reply_token_expires_at  REAL,
    delivered_at            REAL,
    lease_owner             TEXT,                 -- the process that may write this job
    lease_expires_at        REAL                  -- NULL once delivered, or for old rows
);
INSERT INTO jobs_new (id, user_id, guild_id, channel_id, state, prompt, size, output_format,
    seed, strength, reference_url, prediction_id, reserved_cents, cost_cents, error_code, error,
    created_at, submitted_at, finished_at, reply_kind, reply_message_id, reply_token,
    reply_token_expires_at, delivered_at)
SELECT id, user_id, guild_id, channel_id, state, prompt, size, output_format,
    seed, strength, reference_url, prediction_id, reserved_cents, cost_cents, error_code, error,
    created_at, submitted_at, finished_at, reply_kind, reply_message_id, reply_token,
    reply_token_expires_at, delivered_at
FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_guild_spend ON jobs (guild_id, created_at, cost_cents, reserved_cents);
CREATE INDEX jobs_user_activity ON jobs (guild_id, user_id, created_at, state);
CREATE INDEX jobs_undelivered ON jobs (lease_expires_at) WHERE delivered_at IS NULL;

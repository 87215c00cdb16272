-- The jobs ledger: one row per generation, written before the API is called and settled after.
-- Times are Unix seconds (UTC). Money is whole cents.
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    guild_id        INTEGER,              -- NULL for a direct message
    channel_id      INTEGER NOT NULL,
    state           TEXT    NOT NULL
                    CHECK (state IN ('reserved', 'submitted', 'completed', 'failed', 'released')),
    prompt          TEXT    NOT NULL,
    size            TEXT    NOT NULL,
    output_format   TEXT    NOT NULL,
    seed            INTEGER NOT NULL,
    strength        REAL,                 -- only with a reference image
    reference_url   TEXT,
    prediction_id   TEXT    UNIQUE,
    reserved_cents  INTEGER NOT NULL,     -- what the job was expected to cost when admitted
    cost_cents      INTEGER,              -- what the API said it costs; NULL while unknown
    error_code      TEXT,
    error           TEXT,
    created_at      REAL    NOT NULL,
    submitted_at    REAL,
    finished_at     REAL
);

CREATE INDEX jobs_by_guild_time ON jobs (guild_id, created_at);
CREATE INDEX jobs_by_user_time ON jobs (user_id, guild_id, created_at);
CREATE INDEX jobs_in_flight ON jobs (state) WHERE state IN ('reserved', 'submitted');

-- Per-server choices; NULL means "use the bot-wide default from settings".
CREATE TABLE guild_settings (
    guild_id                    INTEGER PRIMARY KEY,
    default_size                TEXT,
    default_format              TEXT,
    user_daily_images           INTEGER,
    user_cooldown_seconds       INTEGER,
    user_max_concurrent         INTEGER,
    guild_daily_budget_cents    INTEGER,
    guild_monthly_budget_cents  INTEGER,
    timezone                    TEXT,
    log_channel_id              INTEGER,
    exempt_role_id              INTEGER,
    updated_at                  REAL NOT NULL
);

CREATE TABLE guild_channels (
    guild_id    INTEGER NOT NULL,
    channel_id  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

CREATE TABLE blocked_terms (
    guild_id  INTEGER NOT NULL,
    term      TEXT    NOT NULL,
    PRIMARY KEY (guild_id, term)
);

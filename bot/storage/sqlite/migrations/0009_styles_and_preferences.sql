-- Server styles, each channel's default style, members' preferences and option sets; the
-- style a job was composed with; whether a server appends members' suffixes.
ALTER TABLE jobs ADD COLUMN style_name TEXT;
ALTER TABLE guild_settings ADD COLUMN personal_suffixes INTEGER;  -- NULL: allowed

CREATE TABLE styles (
    guild_id      INTEGER NOT NULL,
    name_key      TEXT    NOT NULL,   -- the name case-folded: unique per server
    name          TEXT    NOT NULL,   -- as the moderator wrote it
    template      TEXT    NOT NULL,   -- holds {prompt}
    default_size  TEXT,
    updated_at    REAL    NOT NULL,
    PRIMARY KEY (guild_id, name_key)
);

CREATE TABLE channel_styles (
    guild_id    INTEGER NOT NULL,
    channel_id  INTEGER NOT NULL,
    name_key    TEXT    NOT NULL,
    PRIMARY KEY (guild_id, channel_id),
    FOREIGN KEY (guild_id, name_key) REFERENCES styles (guild_id, name_key) ON DELETE CASCADE
);

CREATE TABLE member_preferences (
    guild_id       INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    size           TEXT,
    output_format  TEXT,
    count          INTEGER,
    suffix         TEXT,
    updated_at     REAL    NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE option_sets (
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    name      TEXT    NOT NULL,   -- lower-case letters, typed as --name
    value     TEXT    NOT NULL,
    PRIMARY KEY (guild_id, user_id, name)
);

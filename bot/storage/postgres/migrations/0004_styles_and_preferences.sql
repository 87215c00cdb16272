-- Server styles, each channel's default style, members' preferences and option sets; the
-- style a job was composed with; whether a server appends members' suffixes.
ALTER TABLE jobs ADD COLUMN style_name text;
ALTER TABLE guild_settings ADD COLUMN personal_suffixes boolean;  -- NULL: allowed

CREATE TABLE styles (
    guild_id      bigint NOT NULL,
    name_key      text   NOT NULL,    -- the name case-folded: unique per server
    name          text   NOT NULL,    -- as the moderator wrote it
    template      text   NOT NULL,    -- holds {prompt}
    default_size  text,
    updated_at    double precision NOT NULL,
    PRIMARY KEY (guild_id, name_key)
);

CREATE TABLE channel_styles (
    guild_id    bigint NOT NULL,
    channel_id  bigint NOT NULL,
    name_key    text   NOT NULL,
    PRIMARY KEY (guild_id, channel_id),
    FOREIGN KEY (guild_id, name_key) REFERENCES styles (guild_id, name_key) ON DELETE CASCADE
);

CREATE TABLE member_preferences (
    guild_id       bigint NOT NULL,
    user_id        bigint NOT NULL,
    size           text,
    output_format  text,
    count          integer,
    suffix         text,
    updated_at     double precision NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE option_sets (
    guild_id  bigint NOT NULL,
    user_id   bigint NOT NULL,
    name      text   NOT NULL,    -- lower-case letters, typed as --name
    value     text   NOT NULL,
    PRIMARY KEY (guild_id, user_id, name)
);

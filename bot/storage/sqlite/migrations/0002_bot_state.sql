-- Small facts the bot keeps about itself between runs, e.g. the hash of the last command sync.
CREATE TABLE bot_state (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

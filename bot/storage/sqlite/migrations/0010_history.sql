-- Where each delivered image is shown, for the gallery and for showing it again; and each
-- member's favourite results, whose prompts they are offered again.
ALTER TABLE jobs ADD COLUMN result_channel_id INTEGER;
ALTER TABLE jobs ADD COLUMN result_message_id INTEGER;
CREATE INDEX jobs_guild_results ON jobs (guild_id, id) WHERE result_message_id IS NOT NULL;
CREATE INDEX jobs_member_results ON jobs (guild_id, user_id, id)
    WHERE result_message_id IS NOT NULL;
-- A deleted message is looked up by its id, among every message the bot deletes or sees deleted.
CREATE INDEX jobs_by_result_message ON jobs (result_message_id)
    WHERE result_message_id IS NOT NULL;

CREATE TABLE favourites (
    user_id     INTEGER NOT NULL,
    job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    guild_id    INTEGER,              -- the job's; NULL for a direct message
    created_at  REAL    NOT NULL,
    PRIMARY KEY (user_id, job_id)
);
CREATE INDEX favourites_by_member ON favourites (guild_id, user_id, created_at);

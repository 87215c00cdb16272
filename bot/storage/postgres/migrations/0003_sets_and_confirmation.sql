-- Several images asked for at once are a set: each member job carries the id of the set's
-- first job (NULL for a job on its own). A server may cap how many one request makes, and ask
-- members to confirm before spending more than a threshold.
ALTER TABLE jobs ADD COLUMN batch_id BIGINT;
CREATE INDEX jobs_batch ON jobs (batch_id) WHERE batch_id IS NOT NULL;
ALTER TABLE guild_settings ADD COLUMN max_images_per_request INTEGER;
ALTER TABLE guild_settings ADD COLUMN confirm_above_cents INTEGER;

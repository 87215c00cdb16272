-- Admission sums a server's spending for the day and the month and counts a member's jobs on
-- every request: covering indexes let SQLite answer both from the index alone.
DROP INDEX jobs_by_guild_time;
DROP INDEX jobs_by_user_time;
CREATE INDEX jobs_guild_spend ON jobs (guild_id, created_at, cost_cents, reserved_cents);
CREATE INDEX jobs_user_activity ON jobs (guild_id, user_id, created_at, state);

-- A server's rule for results in channels that are not age-restricted: NULL (shown as they
-- are), 'spoiler' (sent behind a spoiler) or 'refuse' (not made there).
ALTER TABLE guild_settings ADD COLUMN spoiler_policy TEXT;

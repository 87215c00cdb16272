-- Say what kind of reply a job has instead of implying it from which columns are null.
ALTER TABLE jobs ADD COLUMN reply_kind TEXT NOT NULL DEFAULT 'none';
UPDATE jobs SET reply_kind = CASE
    WHEN reply_token_expires_at IS NOT NULL THEN 'interaction'
    WHEN reply_message_id IS NOT NULL THEN 'message'
    ELSE 'none' END;

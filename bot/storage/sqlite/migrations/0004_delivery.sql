-- Where each job's reply lives, so that a restart can deliver what it left in flight.
ALTER TABLE jobs ADD COLUMN reply_message_id INTEGER;   -- the message showing the job
ALTER TABLE jobs ADD COLUMN reply_token TEXT;           -- interaction token, cleared once delivered
ALTER TABLE jobs ADD COLUMN reply_token_expires_at REAL;
ALTER TABLE jobs ADD COLUMN delivered_at REAL;          -- when the requester saw the outcome

CREATE INDEX jobs_undelivered ON jobs (created_at) WHERE delivered_at IS NULL;

-- A conversation's own retention ("disappearing messages"), seconds; 0: as long as the cluster keeps messages. The
-- shorter of the two applies. Set by the business server through the conversation's chatter.
ALTER TABLE conversations ADD COLUMN retention_sec integer NOT NULL DEFAULT 0 CHECK (retention_sec >= 0);

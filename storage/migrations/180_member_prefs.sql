-- A member's own list preferences for a conversation, on every device: when they pinned it (pinned conversations
-- list first, the latest pin first) and when they archived it (epoch ms; 0: not). Per member row, so leaving ends
-- them.
ALTER TABLE members ADD COLUMN pinned_at bigint NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN archived_at bigint NOT NULL DEFAULT 0;

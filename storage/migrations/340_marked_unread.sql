-- "Mark as unread": a member's own flag on a conversation (epoch ms when set; 0: not), set from any of their devices
-- and cleared by their next read mark there. Lists carry it; nobody else sees it.
ALTER TABLE members ADD COLUMN marked_unread_at bigint NOT NULL DEFAULT 0;

-- A member's own "clear history": nothing at or below cleared_seq is served to them any more (history pulls and
-- catch-up start after it); other members keep theirs.
ALTER TABLE members ADD COLUMN cleared_seq bigint NOT NULL DEFAULT 0;

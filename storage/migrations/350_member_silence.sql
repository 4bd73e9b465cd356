-- A group member silenced by the business server (moderation): until then (epoch ms; 0: not silenced) they may not
-- post, react or edit there, only recall what they posted. Owners and admins are never silenced while they are.
ALTER TABLE members ADD COLUMN silenced_until bigint NOT NULL DEFAULT 0;

-- Where a member came in: the conversation's last seq when they were added. What came before is history they may
-- read, not news: unread counts start after it (before, a newcomer to a group of 10,000 messages had 10,000 unread).
-- Their read mark stays theirs, so "seen by" does not list them for messages they never opened.
ALTER TABLE members ADD COLUMN joined_seq bigint NOT NULL DEFAULT 0;
-- What a former member had cleared (240): added back, they do not get the cleared history served again.
ALTER TABLE former_members ADD COLUMN cleared_seq bigint NOT NULL DEFAULT 0;

-- A reaction is a message of its own, like a recall or an edit: `reacts` names the seq it reacts to and its body is
-- the reaction (empty: its sender took theirs back). A user's latest one to a message is their reaction to it, so
-- nothing else is written: history reads them by target from this index.
ALTER TABLE messages ADD COLUMN reacts bigint;
CREATE INDEX messages_reactions ON messages (conv_id, reacts, sender_uid, seq) WHERE reacts IS NOT NULL;
-- Reactions are nothing new to read either: exact unread counts subtract them with recalls and edits, so the
-- amendments index takes them in.
DROP INDEX messages_amendments;
CREATE INDEX messages_amendments ON messages (conv_id, seq) WHERE recalls IS NOT NULL OR edits IS NOT NULL OR reacts IS NOT NULL;

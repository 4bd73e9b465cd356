-- The message a message replies to (its seq), and that message's sender: clients show "replying to …" from the
-- row alone, and the sender is counted as mentioned (their unread-mention row is written with the reply).
ALTER TABLE messages ADD COLUMN reply_to bigint, ADD COLUMN reply_uid text;

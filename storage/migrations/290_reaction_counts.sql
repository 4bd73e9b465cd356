-- Reactions counted as they commit, so that history reads a message's reactions in a few rows however many users
-- reacted (before, every pull read every reaction to every message on the page).
-- `react_was`: the sender's reaction to the same message before this one (NULL: none), given by its chatter; a
-- client keeping counts takes it off when the reaction comes (protocol/README.md §4, React).
ALTER TABLE messages ADD COLUMN react_was text;
-- Per message and reaction: how many users have it now (`n`, never below 0 unless something is wrong), the first
-- reaction message that used it (`since`, for order), and the last one that changed it (`at`). A row stays at 0, so
-- that the greatest `at` of a message's rows is the last reaction to it that changed anything.
CREATE TABLE reaction_counts (
  conv_id text NOT NULL,
  target bigint NOT NULL,
  emoji text NOT NULL,
  n int NOT NULL,
  since bigint NOT NULL,
  at bigint NOT NULL,
  PRIMARY KEY (conv_id, target, emoji)
);
-- What was there before: each reaction's predecessor from the same user (an empty one is none) ...
UPDATE messages m SET react_was = p.was
FROM (
  SELECT conv_id, seq, NULLIF(convert_from(lag(body) OVER (PARTITION BY conv_id, reacts, sender_uid ORDER BY seq), 'UTF8'), '') AS was
  FROM messages WHERE reacts IS NOT NULL
) p
WHERE m.conv_id = p.conv_id AND m.seq = p.seq AND p.was IS NOT NULL;
-- ... and the counts: +1 for each reaction, -1 for each one it replaced.
INSERT INTO reaction_counts (conv_id, target, emoji, n, since, at)
SELECT conv_id, reacts, emoji, sum(d)::int, min(seq), max(seq)
FROM (
  SELECT conv_id, reacts, seq, convert_from(body, 'UTF8') AS emoji, 1 AS d FROM messages WHERE reacts IS NOT NULL AND body <> ''::bytea
  UNION ALL
  SELECT conv_id, reacts, seq, react_was, -1 FROM messages WHERE reacts IS NOT NULL AND react_was IS NOT NULL
) x
GROUP BY conv_id, reacts, emoji;

-- Unread counts in O(1) (unreadAfter in user-conversations.ts). `ordinal`: how many messages that count as unread
-- (anything but a recall, edit or reaction) the conversation holds from its `ordinals_from` seq through this one,
-- given by the chatter as it gives the seq. A reader's count is then the last row's ordinal less the one before the
-- first row it has not seen, two rows read by the primary key, however many reactions, edits and recalls came after
-- its mark; before, each of those was an index entry read on every attach (10^5 after a day away from a busy group).
-- NULL: a row written before this migration (or by a node that predates it). A chatter that finds its conversation's
-- last row without an ordinal starts the numbering again from its next seq (`ordinals_from`), so the rows from
-- `ordinals_from` on are numbered without a break; the part of a count that reaches back past it is taken the old way.
-- Both are catalog-only changes (no rewrite): a NULL column, and a constant default.
ALTER TABLE messages ADD COLUMN ordinal bigint;
ALTER TABLE conversations ADD COLUMN ordinals_from bigint NOT NULL DEFAULT 1;

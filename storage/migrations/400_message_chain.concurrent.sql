-- A conversation's messages form one chain: no two of them follow the same message. A group-commit statement
-- whose outcome the node never learned (its connection dropped, or its deadline passed and the cancel lost the
-- race) can still commit after its chatter reloaded; without this index the next message could take the same
-- `prev` and fork the chain, and the late row would sit where no client looks. With it, whichever commits second
-- fails, and its chatter reloads and sees the other.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS messages_chain ON messages (conv_id, prev_seq)

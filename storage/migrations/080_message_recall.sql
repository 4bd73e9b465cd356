-- A recall is a message of its own, in the conversation's chain like any other: `recalls` names the seq it takes
-- back. The message taken back keeps its seq and its place in the chain (so no gap opens), with its body emptied
-- and `recalled_by` naming the recall, in the same statement that stores the recall.
ALTER TABLE messages ADD COLUMN recalls bigint, ADD COLUMN recalled_by bigint;

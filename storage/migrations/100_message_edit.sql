-- An edit is a message of its own, like a recall: `edits` names the seq it gives a new text. The message edited
-- keeps its seq and takes the edit's body, with `edited_by` naming its latest edit, in the statement that stores it.
ALTER TABLE messages ADD COLUMN edits bigint, ADD COLUMN edited_by bigint;

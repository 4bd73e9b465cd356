-- A group's app-defined data (its avatar URL, description, …, in whatever form the app likes; at most 4 KiB): stored
-- and passed on to members as the title is, never read by the cluster. NULL: none.
ALTER TABLE conversations ADD COLUMN meta text;

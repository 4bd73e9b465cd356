-- A recall empties the recalled message's edits too (each holds one of its texts): this finds them.
CREATE INDEX messages_edits ON messages (conv_id, edits) WHERE edits IS NOT NULL;

-- Settings every node of a cluster must agree on are kept here too, under `flag.<flag name>` (the large-group
-- threshold, the longest token lifetime): the first node to start records its values; a node started with other
-- values is refused, and `imctl settings set` changes one (then every node is restarted with it).
ALTER TABLE cluster_settings ADD COLUMN set_at timestamptz NOT NULL DEFAULT now();

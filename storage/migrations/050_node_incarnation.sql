-- Which process holds a node id: a random id each node process draws at start. Two processes with one node id
-- would both serve the same shards at the same epochs (fencing cannot tell them apart), so a process may take
-- a node id over only from one whose lease has run out, and doing so raises the epoch of the shards that id owns.
ALTER TABLE nodes ADD COLUMN incarnation text NOT NULL DEFAULT '';

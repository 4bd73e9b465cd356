-- Conversations, members (with read marks), messages, sequence segments, and the cluster's shard map.

CREATE TABLE conversations (
  conv_id     text        PRIMARY KEY,
  kind        text        NOT NULL CHECK (kind IN ('direct', 'group')),
  title       text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per membership. It is also the per-user conversation list (index on uid) and holds the
-- user's read mark, so adding a member, listing a user's conversations and moving a read mark touch one row.
CREATE TABLE members (
  conv_id     text        NOT NULL REFERENCES conversations (conv_id) ON DELETE CASCADE,
  uid         text        NOT NULL,
  role        text        NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
  read_seq    bigint      NOT NULL DEFAULT 0,
  joined_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (conv_id, uid)
);
CREATE INDEX members_by_uid ON members (uid, conv_id);

-- Seqs come from segments and are unique and increasing per conversation, not contiguous:
-- prev_seq links every message to the one before it so clients can see any gap.
CREATE TABLE messages (
  conv_id        text        NOT NULL,
  seq            bigint      NOT NULL,
  prev_seq       bigint      NOT NULL,
  sender_uid     text        NOT NULL,
  sender_did     text        NOT NULL,
  client_msg_id  bigint      NOT NULL,
  body           bytea       NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (conv_id, seq),
  UNIQUE (conv_id, sender_did, client_msg_id)
);

-- Leaf-style segment mode: an allocator takes (max_id, max_id + step] with one UPDATE ... RETURNING.
CREATE TABLE seq_segments (
  name        text        PRIMARY KEY,
  max_id      bigint      NOT NULL DEFAULT 0,
  step        integer     NOT NULL CHECK (step > 0),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Cluster-wide settings fixed at creation (shard counts per actor kind).
CREATE TABLE cluster_settings (
  key         text        PRIMARY KEY,
  value       jsonb       NOT NULL
);

-- Node processes and their leases. A node whose lease_until has passed is dead.
CREATE TABLE nodes (
  node_id      text        PRIMARY KEY,
  endpoints    jsonb       NOT NULL DEFAULT '[]',
  state        text        NOT NULL DEFAULT 'alive' CHECK (state IN ('alive', 'draining', 'left')),
  started_at   timestamptz NOT NULL DEFAULT now(),
  lease_until  timestamptz NOT NULL,
  load         jsonb       NOT NULL DEFAULT '{}'
);

-- The authoritative shard map. Every change is a compare-and-set on epoch; every write made
-- for a shard checks its epoch in the same statement or transaction (fencing).
CREATE TABLE shards (
  kind        text        NOT NULL,
  shard       integer     NOT NULL CHECK (shard >= 0),
  owner       text,
  epoch       bigint      NOT NULL DEFAULT 0,
  state       text        NOT NULL DEFAULT 'unassigned' CHECK (state IN ('unassigned', 'active', 'moving')),
  target      text,
  pinned      boolean     NOT NULL DEFAULT false,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, shard)
);
CREATE INDEX shards_by_owner ON shards (owner);

-- Named leases (the coordinator lease): one holder at a time until `until`.
CREATE TABLE leases (
  name        text        PRIMARY KEY,
  holder      text        NOT NULL,
  until       timestamptz NOT NULL
);

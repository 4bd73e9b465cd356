-- Who the cluster announced online, and which node life (`node_id incarnation`) announced it: that node's connector
-- of the user takes them offline again when their last device leaves. A node that dies first tells nobody; the nodes
-- left sweep its rows (actors/presence-sweep.ts) and have each user's connector, now elsewhere, announce offline
-- unless a device of theirs came back. `at` (epoch ms of the announcement) orders the writes of nodes that owned the
-- connector one after another; `swept_at` is when a sweeping node claimed the row, so that two nodes do not both.
CREATE TABLE IF NOT EXISTS online_users (
  uid text PRIMARY KEY,
  life text NOT NULL,
  did text NOT NULL,
  at bigint NOT NULL,
  swept_at timestamptz
);
CREATE INDEX IF NOT EXISTS online_users_life ON online_users (life);

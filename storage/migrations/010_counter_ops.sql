-- The `counter` actor kind: a diagnostic actor that persists every increment with the shard epoch it ran
-- under. Smoke tests and the runtime's exactly-once / fencing tests read this table.
-- No uniqueness on (key, value) on purpose: a zombie owner writing a second row for one value must be
-- visible to the verifier, not hidden by a constraint.
CREATE TABLE counter_ops (
  key         text        NOT NULL,
  op_id       text        NOT NULL,
  value       bigint      NOT NULL,
  epoch       bigint      NOT NULL,
  node_id     text        NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (key, op_id)
);

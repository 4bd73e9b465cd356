-- A send is deduplicated per device of a user: two users whose apps name their devices alike ("phone") are two
-- devices. Before, the key was (conv_id, sender_did, client_msg_id): in a conversation of both, one's message could
-- be answered with the other's seq and never stored, or be refused for a cid "below" the other's.
-- Built concurrently: messages are written in the node-wide group commit, which a plain build would hold.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS messages_device_cid ON messages (conv_id, sender_uid, sender_did, client_msg_id)

-- The key without the user (001) goes: messages_device_cid (300) is the key now. Nodes older than this migration
-- name the old key in their inserts: their sends fail (retryable) until they are upgraded too.
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_conv_id_sender_did_client_msg_id_key;

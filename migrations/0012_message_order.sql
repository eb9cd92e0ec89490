-- Messages to one destination are received in the order they were sent, also when
-- several are sent in one statement (send_bulk) within the same millisecond:
-- created_at_epoch_ms ties are broken by this insertion sequence, not by the random
-- message_uuid.
ALTER TABLE dbos.notifications ADD COLUMN IF NOT EXISTS seq bigserial;

-- Conversation Routing (issue 12, rule 7): while another responder owns a
-- contact's thread, Meta echoes that responder's messages on the standby
-- field. wagw keeps them in the contact's history with direction
-- 'out_other' (sent by another app), next to the user's standby messages
-- ('in'), so that the conversation stays complete.
ALTER TABLE messages DROP CONSTRAINT messages_direction_check;
ALTER TABLE messages ADD CONSTRAINT messages_direction_check CHECK (direction IN ('in', 'out', 'out_other'));

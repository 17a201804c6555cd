-- Messages keep their contact and conversation without foreign keys: the
-- checks ran once per stored message and took a fifth of Postgres's CPU
-- in the consumer's replay. What they guarded:
--
-- * A message's contact: a merge deletes the younger row of a person after
--   moving its messages. A batch holds a lock on every contact it writes
--   messages for until it commits (db/contacts.go), and the merge locks
--   both rows FOR UPDATE first, so it waits for that batch and then moves
--   what the batch wrote.
-- * A message's conversation: conversations are never deleted, and this
--   trigger keeps it so.
ALTER TABLE messages DROP CONSTRAINT messages_contact_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_conversation_id_fkey;

CREATE FUNCTION conversations_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'conversations are never deleted: messages name them without a foreign key'
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER conversations_are_kept BEFORE DELETE OR TRUNCATE ON conversations
    FOR EACH STATEMENT EXECUTE FUNCTION conversations_are_kept();

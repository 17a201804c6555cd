-- Contact identity: the partition key is the business-scoped user id when
-- the contact has one (Meta sends it in every webhook since April 2026),
-- else the wa_id. Held events belong to a contact by id, whatever key they
-- arrived under. Old rows of the bookkeeping tables can be pruned by age.

-- Held events: by contact id. A held event whose key names no contact gets
-- a blocked contact of its own, so that it can still be released.
INSERT INTO contacts (key, blocked_at, blocked_reason)
SELECT DISTINCT h.contact_key, now(), 'held events without a contact'
FROM held_events h
WHERE NOT EXISTS (SELECT 1 FROM contacts c
	WHERE c.key = h.contact_key OR c.wa_id = h.contact_key OR c.user_id = h.contact_key)
ON CONFLICT DO NOTHING;

ALTER TABLE held_events
    ADD COLUMN contact_id    bigint REFERENCES contacts(id),
    ADD COLUMN failed_at     timestamptz,            -- replaying it failed at release: kept, not replayed again
    ADD COLUMN failed_reason text NOT NULL DEFAULT '';
UPDATE held_events h SET contact_id = (
    SELECT c.id FROM contacts c
    WHERE c.key = h.contact_key OR c.wa_id = h.contact_key OR c.user_id = h.contact_key
    ORDER BY c.key = h.contact_key DESC, c.id LIMIT 1);
ALTER TABLE held_events ALTER COLUMN contact_id SET NOT NULL;
DROP INDEX held_events_contact;
CREATE INDEX held_events_contact ON held_events (contact_id, id);
CREATE INDEX held_events_failed ON held_events (failed_at) WHERE failed_at IS NOT NULL;

-- Keys: the user id when known.
UPDATE contacts c SET key = c.user_id
WHERE c.user_id IS NOT NULL AND c.key <> c.user_id
  AND NOT EXISTS (SELECT 1 FROM contacts o WHERE o.key = c.user_id);
-- Outcomes not yet reported go to the contact's partition as it now is.
UPDATE outbox o SET contact_key = c.key FROM contacts c
WHERE c.id = o.contact_id AND o.contact_key <> c.key AND (o.state = 'pending' OR NOT o.reported);

-- Merging two rows of one contact moves its rows by contact id.
CREATE INDEX conversations_contact ON conversations (contact_id);
CREATE INDEX outbox_contact_all ON outbox (contact_id);

-- Pruning by age (the retention window).
CREATE INDEX processed_events_age ON processed_events (processed_at);
CREATE INDEX command_results_age ON command_results (created_at);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
CREATE INDEX notices_age ON notices (received_at);

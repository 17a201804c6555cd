-- What must be sent through the Cloud API, written in the transaction that
-- decided to send it; the relay claims rows with FOR UPDATE SKIP LOCKED.

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,          -- per contact, rows are sent in id order
    contact_id      bigint NOT NULL REFERENCES contacts(id),
    contact_key     text NOT NULL,                  -- partition key for reporting the outcome
    conversation_id bigint REFERENCES conversations(id),
    message_id      bigint NOT NULL REFERENCES messages(id),
    phone_number_id text NOT NULL,
    recipient       text NOT NULL,                  -- wa_id (or business-scoped user id)
    kind            text NOT NULL CHECK (kind IN ('welcome', 'reply', 'read')),
    agent_id        bigint REFERENCES agents(id),
    payload         jsonb NOT NULL,                 -- the Cloud API request body
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'stopped')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,                    -- claimed by a relay until then
    wamid           text,
    error_code      int,
    error_message   text NOT NULL DEFAULT '',
    reported        boolean NOT NULL DEFAULT false, -- outcome published to the contact's partition
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX outbox_contact ON outbox (contact_id, id) WHERE state = 'pending';
CREATE INDEX outbox_unreported ON outbox (id) WHERE state <> 'pending' AND NOT reported;
CREATE UNIQUE INDEX outbox_one_welcome ON outbox (conversation_id) WHERE kind = 'welcome';

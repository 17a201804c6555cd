-- Contacts, inboxes, conversations, messages and statuses: what the
-- consumer keeps of Meta's webhooks.

CREATE TABLE contacts (
    id              bigserial PRIMARY KEY,
    key             text NOT NULL UNIQUE,          -- partition key: wa_id, else user id
    wa_id           text UNIQUE,
    user_id         text UNIQUE,
    name            text NOT NULL DEFAULT '',
    last_inbound_at timestamptz,                   -- opens the 24 h customer-service window
    blocked_at      timestamptz,                   -- a poison event stopped this contact
    blocked_reason  text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inboxes (
    phone_number_id      text PRIMARY KEY,
    display_phone_number text NOT NULL DEFAULT '',
    waba_id              text NOT NULL DEFAULT '',
    name                 text NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversations (
    id              bigserial PRIMARY KEY,
    contact_id      bigint NOT NULL REFERENCES contacts(id),
    inbox           text NOT NULL REFERENCES inboxes(phone_number_id),
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    opened_by       text NOT NULL DEFAULT '',       -- wamid of the opening message
    opened_at       timestamptz NOT NULL,           -- Meta's timestamp of the opening message
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_message_at timestamptz,
    resolved_at     timestamptz
);
CREATE UNIQUE INDEX conversations_one_open ON conversations (contact_id, inbox) WHERE status = 'open';
CREATE INDEX conversations_status ON conversations (status, id);

CREATE TABLE messages (
    id              bigserial PRIMARY KEY,          -- partition order per contact
    wamid           text UNIQUE,                    -- NULL for outbound messages not yet accepted
    direction       text NOT NULL CHECK (direction IN ('in', 'out')),
    contact_id      bigint NOT NULL REFERENCES contacts(id),
    conversation_id bigint REFERENCES conversations(id),
    inbox           text NOT NULL,
    type            text NOT NULL,
    body            text NOT NULL DEFAULT '',
    context_wamid   text NOT NULL DEFAULT '',
    sent_at         timestamptz NOT NULL,           -- Meta's timestamp
    received_at     timestamptz NOT NULL,           -- when the gateway took the webhook
    stored_at       timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL DEFAULT '',
    status_rank     int  NOT NULL DEFAULT 0,
    status_at       timestamptz,
    error_code      int,
    error_title     text NOT NULL DEFAULT '',
    raw             jsonb
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);
CREATE INDEX messages_contact ON messages (contact_id, id);

-- Every status Meta reported, once per (wamid, status). A status whose
-- message is unknown stays here (an orphan) until the message is known.
CREATE TABLE statuses (
    wamid        text NOT NULL,
    status       text NOT NULL,
    rank         int  NOT NULL,
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    error_code   int,
    error_title  text NOT NULL DEFAULT '',
    raw          jsonb,
    PRIMARY KEY (wamid, status)
);

-- Events that carry no message or status (commands, notices) are
-- deduplicated by id here, in the same transaction as their effect.
CREATE TABLE processed_events (
    event_id     text PRIMARY KEY,
    kind         text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notices (
    event_id     text PRIMARY KEY,
    field        text NOT NULL,
    waba_id      text NOT NULL DEFAULT '',
    phone_number_id text NOT NULL DEFAULT '',
    received_at  timestamptz NOT NULL,
    raw          jsonb
);

-- Events of a blocked contact wait here, in partition order, until an
-- operator releases the contact.
CREATE TABLE held_events (
    id          bigserial PRIMARY KEY,
    contact_key text NOT NULL,
    event_id    text NOT NULL,
    envelope    bytea NOT NULL,
    held_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX held_events_contact ON held_events (contact_key, id);

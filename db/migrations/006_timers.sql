-- Time-based rules (issue 12): a conversation's deadlines are rows,
-- created and deleted in the transaction of the event that sets or clears
-- them; the scheduler produces a command onto the contact's partition when
-- one falls due.

CREATE TABLE conversation_timers (
    conversation_id bigint NOT NULL REFERENCES conversations(id),
    kind            text NOT NULL CHECK (kind IN ('no_reply', 'away', 'snooze')),
    due_at          timestamptz NOT NULL,
    round           int NOT NULL DEFAULT 0,       -- no_reply: reassignments made so far
    excluded        bigint[] NOT NULL DEFAULT '{}', -- no_reply: agents it was taken from; away: who went away
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, kind)
);
CREATE INDEX conversation_timers_due ON conversation_timers (due_at);

-- Reassign on no reply (team settings; off while reassign_after_seconds is NULL).
ALTER TABLE teams
    ADD COLUMN reassign_after_seconds int CHECK (reassign_after_seconds IS NULL OR reassign_after_seconds > 0),
    ADD COLUMN reassign_max int NOT NULL DEFAULT 1 CHECK (reassign_max >= 0),
    ADD COLUMN reassign_exhausted text NOT NULL DEFAULT 'keep' CHECK (reassign_exhausted IN ('keep', 'queue', 'fallback'));

-- Away and offline (team setting): an agent who goes away or offline, or
-- whose heartbeat lapses (lapsed_at: handled once until the next
-- heartbeat), gives back the conversations whose contact waits.
ALTER TABLE teams ADD COLUMN reassign_on_away boolean NOT NULL DEFAULT false;
ALTER TABLE agents ADD COLUMN lapsed_at timestamptz;
CREATE INDEX agents_heartbeat ON agents (heartbeat_at) WHERE presence = 'online' AND lapsed_at IS NULL;

-- Snooze: the conversation stays open (it is still the contact's open
-- conversation) and the API shows it as snoozed while snoozed_until is set.
ALTER TABLE conversations ADD COLUMN snoozed_until timestamptz;

-- Agents, teams, owners, assignees and the decision log.

CREATE TABLE agents (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    email        text NOT NULL UNIQUE,
    role         text NOT NULL DEFAULT 'agent' CHECK (role IN ('admin', 'agent')),
    active       boolean NOT NULL DEFAULT true,
    capacity     int CHECK (capacity IS NULL OR capacity >= 0),
    token_hash   bytea NOT NULL UNIQUE,              -- sha256 of the bearer token
    presence     text NOT NULL DEFAULT 'offline' CHECK (presence IN ('online', 'away', 'offline')),
    heartbeat_at timestamptz,
    open_count   int NOT NULL DEFAULT 0,             -- open conversations assigned (exact: changed under row lock)
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    strategy    text NOT NULL DEFAULT 'round_robin' CHECK (strategy IN ('round_robin', 'least_open', 'manual')),
    online_only boolean NOT NULL DEFAULT true,
    max_open    int CHECK (max_open IS NULL OR max_open >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE team_members (
    team_id          bigint NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    agent_id         bigint NOT NULL REFERENCES agents(id),
    position         int NOT NULL,
    last_assigned_at timestamptz,                    -- by this team (round robin fairness)
    PRIMARY KEY (team_id, agent_id)
);
CREATE INDEX team_members_agent ON team_members (agent_id);

CREATE TABLE contact_owners (
    contact_id bigint NOT NULL REFERENCES contacts(id),
    agent_id   bigint NOT NULL REFERENCES agents(id),
    source     text NOT NULL DEFAULT 'manual',
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (contact_id, agent_id)
);

ALTER TABLE inboxes
    ADD COLUMN welcome_message text NOT NULL DEFAULT '',
    ADD COLUMN first_responder_becomes_owner boolean NOT NULL DEFAULT false,
    ADD COLUMN routing jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN default_assign jsonb,
    ADD COLUMN fallback_agent_id bigint REFERENCES agents(id);

ALTER TABLE conversations
    ADD COLUMN team_id bigint REFERENCES teams(id),
    ADD COLUMN queued_at timestamptz,                -- waiting for an eligible agent (rule 10)
    ADD COLUMN first_reply_at timestamptz;
CREATE INDEX conversations_queue ON conversations (team_id, queued_at, id) WHERE queued_at IS NOT NULL AND status = 'open';

CREATE TABLE conversation_assignees (
    conversation_id bigint NOT NULL REFERENCES conversations(id),
    agent_id        bigint NOT NULL REFERENCES agents(id),
    source          text NOT NULL,
    added_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, agent_id)
);
CREATE INDEX conversation_assignees_agent ON conversation_assignees (agent_id);

CREATE TABLE decisions (
    id              bigserial PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations(id),
    event_id        text NOT NULL,
    rule            text NOT NULL,
    summary         text NOT NULL,
    decision        jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX decisions_conversation ON decisions (conversation_id, id);

-- The outcome of each API command, for the caller waiting on it.
CREATE TABLE command_results (
    command_id  text PRIMARY KEY,
    status      int NOT NULL,
    body        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Idempotency-Key of API writes: the same key (per caller) maps to one command.
CREATE TABLE idempotency_keys (
    caller       text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    command_id   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);

ALTER TABLE messages ADD COLUMN author_agent_id bigint REFERENCES agents(id);

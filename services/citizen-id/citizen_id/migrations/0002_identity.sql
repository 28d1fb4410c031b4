-- The mock national identity provider (VNeID-like OpenID Connect provider).

-- Token signing keys. Exactly one key is active (activated, not retired); a retired key stays in the
-- JWKS until every token it signed has expired, then its private half is erased.
CREATE TABLE signing_keys (
    kid             text        PRIMARY KEY,
    alg             text        NOT NULL DEFAULT 'RS256' CHECK (alg = 'RS256'),
    private_key_pem text,
    public_jwk      jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    activated_at    timestamptz,
    retired_at      timestamptz,
    CHECK (retired_at IS NULL OR activated_at IS NOT NULL)
);
CREATE UNIQUE INDEX signing_keys_one_active_idx ON signing_keys ((true))
    WHERE activated_at IS NOT NULL AND retired_at IS NULL;

-- Officer accounts (cán bộ): one unit, one or more roles.
CREATE TABLE officers (
    username      text        PRIMARY KEY CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,63}$'),
    full_name     text        NOT NULL,
    unit_code     text        NOT NULL,
    roles         text[]      NOT NULL CHECK (
        cardinality(roles) > 0
        AND roles <@ ARRAY['receiving_officer', 'specialist', 'approver', 'unit_head', 'provincial_operator']
    ),
    password_hash text        NOT NULL,
    active        boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Citizens' VNeID passwords, by personal id. No foreign key to citizens: accounts may be seeded before
-- the registry; a login needs both (and a living citizen).
CREATE TABLE citizen_credentials (
    personal_id   char(12)    PRIMARY KEY CHECK (personal_id ~ '^[0-9]{12}$'),
    password_hash text        NOT NULL,
    active        boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- OAuth clients: the public app (authorization code + PKCE) and confidential partners and services
-- (client credentials).
CREATE TABLE oauth_clients (
    client_id      text        PRIMARY KEY,
    kind           text        NOT NULL CHECK (kind IN ('public', 'partner', 'service')),
    name           text        NOT NULL,
    secret_hash    text,
    redirect_uris  text[]      NOT NULL DEFAULT '{}',
    grant_types    text[]      NOT NULL CHECK (
        grant_types <@ ARRAY['authorization_code', 'refresh_token', 'client_credentials']
    ),
    allowed_scopes text[]      NOT NULL DEFAULT '{}',
    unit_code      text,
    active         boolean     NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'public') = (secret_hash IS NULL))
);

-- Authorization codes, stored by their SHA-256 only; single use, short-lived.
CREATE TABLE authorization_codes (
    code_hash      text        PRIMARY KEY,
    client_id      text        NOT NULL REFERENCES oauth_clients (client_id),
    redirect_uri   text        NOT NULL,
    code_challenge text        NOT NULL,
    scope          text        NOT NULL,
    account_kind   text        NOT NULL CHECK (account_kind IN ('citizen', 'officer')),
    account_id     text        NOT NULL,
    nonce          text,
    auth_time      timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);
CREATE INDEX authorization_codes_expiry_idx ON authorization_codes (expires_at);

-- Refresh tokens, stored by their SHA-256 only. Rotated on every use; one login is one family, and
-- presenting a token of the family that was already used revokes the whole family.
CREATE TABLE refresh_tokens (
    token_hash   text        PRIMARY KEY,
    family_id    uuid        NOT NULL,
    client_id    text        NOT NULL REFERENCES oauth_clients (client_id),
    account_kind text        NOT NULL CHECK (account_kind IN ('citizen', 'officer')),
    account_id   text        NOT NULL,
    scope        text        NOT NULL,
    code_hash    text,
    auth_time    timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_code_idx ON refresh_tokens (code_hash) WHERE code_hash IS NOT NULL;

-- Electronic batch records (version range 200–299).
--
-- A batch is its append-only, hash-chained record (batch_entries); every
-- other column is derived from the entries and checked against them by
-- `atmpflow batch verify`. batch_recipes keeps the exact recipe text each
-- batch was ordered with (content-addressed by its SHA-256) so a batch can
-- be replayed and resumed from the database alone. batch_requests keeps one
-- row per stored request (idempotency key, SHA-256 of the request, the
-- entries it made, its outcome), hash-chained per batch like the entries.
-- Foreign keys are checked at commit so that whole-database copies may
-- insert the tables in any order.

CREATE TABLE batch_recipes (
    sha256 TEXT COLLATE "C" PRIMARY KEY,
    recipe_id TEXT NOT NULL,
    version TEXT NOT NULL,
    text TEXT NOT NULL
);

CREATE TABLE batches (
    id TEXT COLLATE "C" PRIMARY KEY,
    patient TEXT NOT NULL,
    coi TEXT NOT NULL,
    din TEXT NOT NULL,
    product TEXT NOT NULL,
    recipe_sha256 TEXT COLLATE "C" NOT NULL REFERENCES batch_recipes (sha256) DEFERRABLE INITIALLY DEFERRED,
    planned_start TEXT NOT NULL,
    stage TEXT COLLATE "C" NOT NULL,
    head_seq BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    requests_head TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX batches_stage ON batches (stage, id);

CREATE TABLE batch_entries (
    batch TEXT COLLATE "C" NOT NULL REFERENCES batches (id) DEFERRABLE INITIALLY DEFERRED,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    idem_key TEXT,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (batch, seq)
);

CREATE TABLE batch_requests (
    batch TEXT COLLATE "C" NOT NULL REFERENCES batches (id) DEFERRABLE INITIALLY DEFERRED,
    n BIGINT NOT NULL,
    idem_key TEXT COLLATE "C",
    request TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (batch, n),
    UNIQUE (batch, idem_key)
);

-- Append-only at the database level too: the program has no UPDATE or
-- DELETE of these tables, and the database refuses them from anyone else.
CREATE FUNCTION batch_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END
$$;
CREATE TRIGGER batch_entries_append_only BEFORE UPDATE OR DELETE ON batch_entries
    FOR EACH ROW EXECUTE FUNCTION batch_append_only();
CREATE TRIGGER batch_entries_no_truncate BEFORE TRUNCATE ON batch_entries
    FOR EACH STATEMENT EXECUTE FUNCTION batch_append_only();
CREATE TRIGGER batch_requests_append_only BEFORE UPDATE OR DELETE ON batch_requests
    FOR EACH ROW EXECUTE FUNCTION batch_append_only();
CREATE TRIGGER batch_requests_no_truncate BEFORE TRUNCATE ON batch_requests
    FOR EACH STATEMENT EXECUTE FUNCTION batch_append_only();
CREATE TRIGGER batch_recipes_append_only BEFORE UPDATE OR DELETE ON batch_recipes
    FOR EACH ROW EXECUTE FUNCTION batch_append_only();
CREATE TRIGGER batch_recipes_no_truncate BEFORE TRUNCATE ON batch_recipes
    FOR EACH STATEMENT EXECUTE FUNCTION batch_append_only();
CREATE TRIGGER batches_no_delete BEFORE DELETE ON batches
    FOR EACH ROW EXECUTE FUNCTION batch_append_only();
CREATE TRIGGER batches_no_truncate BEFORE TRUNCATE ON batches
    FOR EACH STATEMENT EXECUTE FUNCTION batch_append_only();

-- a batch's head moves forward; its order never changes
CREATE FUNCTION batches_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.patient IS DISTINCT FROM OLD.patient
       OR NEW.coi IS DISTINCT FROM OLD.coi OR NEW.din IS DISTINCT FROM OLD.din
       OR NEW.product IS DISTINCT FROM OLD.product
       OR NEW.recipe_sha256 IS DISTINCT FROM OLD.recipe_sha256
       OR NEW.planned_start IS DISTINCT FROM OLD.planned_start
       OR NEW.created_at IS DISTINCT FROM OLD.created_at
       OR NEW.head_seq <= OLD.head_seq OR NEW.version <= OLD.version THEN
        RAISE EXCEPTION 'batches: only the head of a batch moves, forward: UPDATE refused';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER batches_forward_only BEFORE UPDATE ON batches
    FOR EACH ROW EXECUTE FUNCTION batches_forward_only();

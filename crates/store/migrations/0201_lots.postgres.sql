-- The plant's register of material lots (version range 200–299).
--
-- material_lots holds one row per lot of a material (the material id as the
-- recipes name it, the supplier's or the plant's lot number, the expiry day —
-- usable up to and including it — and the release status), who registered it
-- and when. Only its status moves, and every move is a row of
-- material_lot_history (who, when, old and new status, why), which is
-- append-only: the program has no UPDATE or DELETE of it and the database
-- refuses them. A lot's first history row is its registration (old status
-- NULL). `changes` counts the history rows, so a status change is made on the
-- state that was read (`UPDATE … WHERE changes = $read`).

CREATE TABLE material_lots (
    material TEXT COLLATE "C" NOT NULL,
    lot TEXT COLLATE "C" NOT NULL,
    expiry TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('released', 'quarantined', 'rejected')),
    registered_by TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    changes BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (material, lot)
);
CREATE INDEX material_lots_lot ON material_lots (lot);

CREATE TABLE material_lot_history (
    material TEXT COLLATE "C" NOT NULL,
    lot TEXT COLLATE "C" NOT NULL,
    n BIGINT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    old_status TEXT,
    new_status TEXT NOT NULL CHECK (new_status IN ('released', 'quarantined', 'rejected')),
    reason TEXT NOT NULL,
    PRIMARY KEY (material, lot, n),
    FOREIGN KEY (material, lot) REFERENCES material_lots (material, lot) DEFERRABLE INITIALLY DEFERRED
);

CREATE FUNCTION material_lot_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END
$$;
CREATE TRIGGER material_lot_history_append_only BEFORE UPDATE OR DELETE ON material_lot_history
    FOR EACH ROW EXECUTE FUNCTION material_lot_append_only();
CREATE TRIGGER material_lot_history_no_truncate BEFORE TRUNCATE ON material_lot_history
    FOR EACH STATEMENT EXECUTE FUNCTION material_lot_append_only();
CREATE TRIGGER material_lots_no_delete BEFORE DELETE ON material_lots
    FOR EACH ROW EXECUTE FUNCTION material_lot_append_only();
CREATE TRIGGER material_lots_no_truncate BEFORE TRUNCATE ON material_lots
    FOR EACH STATEMENT EXECUTE FUNCTION material_lot_append_only();

-- only the status of a lot moves, one history row at a time
CREATE FUNCTION material_lots_status_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.material IS DISTINCT FROM OLD.material OR NEW.lot IS DISTINCT FROM OLD.lot
       OR NEW.expiry IS DISTINCT FROM OLD.expiry
       OR NEW.registered_by IS DISTINCT FROM OLD.registered_by
       OR NEW.registered_at IS DISTINCT FROM OLD.registered_at
       OR NEW.changes <> OLD.changes + 1 THEN
        RAISE EXCEPTION 'material_lots: only the status of a lot moves, with its history: UPDATE refused';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER material_lots_status_only BEFORE UPDATE ON material_lots
    FOR EACH ROW EXECUTE FUNCTION material_lots_status_only();

-- Stored plant plans of the planner API (version range 300–399).
--
-- plant_plans holds one row per plan: its number (`seq`, which makes the id
-- `plan-<seq>`), the scenario name, who made it and when. Each state of a
-- plan is a row of plant_plan_versions: the plan document (`plan.json` as
-- `atmpflow schedule` writes it), its SHA-256, who made the change, the
-- server's UTC time and the event (the line the change added to the
-- document's history). Versions are numbered 1, 2, … per plan and only ever
-- added, on the version that was read (a version number taken already
-- refuses the change); both tables are append-only: the program has no
-- UPDATE or DELETE of them and the database refuses them.

CREATE TABLE plant_plans (
    id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    scenario TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE plant_plan_versions (
    plan_id TEXT NOT NULL REFERENCES plant_plans (id),
    n BIGINT NOT NULL CHECK (n >= 1),
    document TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (plan_id, n)
);

CREATE TRIGGER plant_plans_no_update BEFORE UPDATE ON plant_plans
BEGIN SELECT RAISE(ABORT, 'plant_plans is append-only: UPDATE refused'); END;
CREATE TRIGGER plant_plans_no_delete BEFORE DELETE ON plant_plans
BEGIN SELECT RAISE(ABORT, 'plant_plans is append-only: DELETE refused'); END;
CREATE TRIGGER plant_plan_versions_no_update BEFORE UPDATE ON plant_plan_versions
BEGIN SELECT RAISE(ABORT, 'plant_plan_versions is append-only: UPDATE refused'); END;
CREATE TRIGGER plant_plan_versions_no_delete BEFORE DELETE ON plant_plan_versions
BEGIN SELECT RAISE(ABORT, 'plant_plan_versions is append-only: DELETE refused'); END;

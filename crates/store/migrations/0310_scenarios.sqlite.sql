-- Scenarios the planners keep on the server (the planning pages; version
-- range 300–399 with the plant plans).
--
-- plan_scenarios holds one row per scenario: its number (`seq`, which makes
-- the id `scenario-<seq>`), who made it and when. Each save is a row of
-- plan_scenario_versions: the file name, the TOML text, its SHA-256, who
-- saved it and the server's UTC time. Versions are numbered 1, 2, … per
-- scenario and only ever added on the version that was read (a number taken
-- already refuses the save); deleting a scenario adds a last version marked
-- `deleted = 1` (its text empty), so every earlier text stays readable.
-- Both tables are append-only: the program has no UPDATE or DELETE of them
-- and the database refuses them.

CREATE TABLE plan_scenarios (
    id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE plan_scenario_versions (
    scenario_id TEXT NOT NULL REFERENCES plan_scenarios (id),
    n BIGINT NOT NULL CHECK (n >= 1),
    name TEXT NOT NULL,
    text TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    deleted BIGINT NOT NULL CHECK (deleted IN (0, 1)),
    PRIMARY KEY (scenario_id, n)
);

CREATE TRIGGER plan_scenarios_no_update BEFORE UPDATE ON plan_scenarios
BEGIN SELECT RAISE(ABORT, 'plan_scenarios is append-only: UPDATE refused'); END;
CREATE TRIGGER plan_scenarios_no_delete BEFORE DELETE ON plan_scenarios
BEGIN SELECT RAISE(ABORT, 'plan_scenarios is append-only: DELETE refused'); END;
CREATE TRIGGER plan_scenario_versions_no_update BEFORE UPDATE ON plan_scenario_versions
BEGIN SELECT RAISE(ABORT, 'plan_scenario_versions is append-only: UPDATE refused'); END;
CREATE TRIGGER plan_scenario_versions_no_delete BEFORE DELETE ON plan_scenario_versions
BEGIN SELECT RAISE(ABORT, 'plan_scenario_versions is append-only: DELETE refused'); END;

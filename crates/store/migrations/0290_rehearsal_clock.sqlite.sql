-- The simulated clock of a rehearsal database (version range 200–299).
--
-- A database with any row here is a rehearsal database: `atmpflow serve
-- --rehearsal-clock` runs the batch engine on this clock, which an
-- administrator moves forward through the API, and a server on the system
-- clock refuses the database (its records carry simulated times). Each move
-- is a new row (who, when in real UTC time); rows are never changed or
-- removed and the clock never goes back.

CREATE TABLE rehearsal_clock (
    n BIGINT PRIMARY KEY,
    sim_now BIGINT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL
);

CREATE TRIGGER rehearsal_clock_forward BEFORE INSERT ON rehearsal_clock
WHEN NEW.sim_now < (SELECT MAX(sim_now) FROM rehearsal_clock)
  OR NEW.n <= (SELECT MAX(n) FROM rehearsal_clock)
BEGIN SELECT RAISE(ABORT, 'rehearsal_clock: the simulated clock only moves forward'); END;
CREATE TRIGGER rehearsal_clock_no_update BEFORE UPDATE ON rehearsal_clock
BEGIN SELECT RAISE(ABORT, 'rehearsal_clock is append-only: UPDATE refused'); END;
CREATE TRIGGER rehearsal_clock_no_delete BEFORE DELETE ON rehearsal_clock
BEGIN SELECT RAISE(ABORT, 'rehearsal_clock is append-only: DELETE refused'); END;

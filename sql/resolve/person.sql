-- Persons and their flags (contract section 4), recomputed for the national IDs in person_resolving
-- (the pending IDs, each once) from all their loaded records (etl/resolve.py deletes their old rows first).
-- A person is a national ID on any registration, training or loan (any status).
-- Home province: earliest registration (registered_at, then province code); else
-- earliest loan (approved_at, else disbursed_at, then province code); else
-- earliest training (start_date, then province code). Undated records sort last.
-- The pseudonym is the same on every record of a person (etl/pseudonym.py). suspected_duplicate
-- follows the pairs the matching stage last published (etl/suspects.py).
INSERT INTO person (
    national_id, person_pseudonym, home_province_code, registrations, live_loans, completed_trainings,
    has_supporter, multi_registration, loan_only, unregistered_borrower, suspected_duplicate
)
WITH candidates AS (
    SELECT national_id, person_pseudonym, province_code, 1 AS source_rank, registered_at AS record_date FROM registration
    WHERE national_id IN (SELECT national_id FROM person_resolving)
    UNION ALL
    SELECT national_id, person_pseudonym, province_code, 2 AS source_rank, loan_date AS record_date FROM loan
    WHERE national_id IN (SELECT national_id FROM person_resolving)
    UNION ALL
    SELECT national_id, person_pseudonym, province_code, 3 AS source_rank, start_date AS record_date FROM training_enrollment
    WHERE national_id IN (SELECT national_id FROM person_resolving)
),
ranked AS (
    SELECT
        national_id,
        person_pseudonym,
        province_code,
        ROW_NUMBER() OVER (
            PARTITION BY national_id
            ORDER BY source_rank, CASE WHEN record_date IS NULL THEN 1 ELSE 0 END, record_date, province_code
        ) AS position
    FROM candidates
),
registrations AS (
    SELECT
        national_id,
        COUNT(*) AS registrations,
        MAX(CASE WHEN supporter_id IS NOT NULL AND supporter_id <> '' THEN 1 ELSE 0 END) AS has_supporter
    FROM registration
    WHERE national_id IN (SELECT national_id FROM person_resolving)
    GROUP BY national_id
),
live_loans AS (
    SELECT national_id, COUNT(*) AS live_loans
    FROM loan
    WHERE status IN ('approved', 'disbursed') AND national_id IN (SELECT national_id FROM person_resolving)
    GROUP BY national_id
),
completed_trainings AS (
    SELECT national_id, COUNT(*) AS completed_trainings
    FROM training_enrollment
    WHERE completed AND national_id IN (SELECT national_id FROM person_resolving)
    GROUP BY national_id
),
counted AS (
    SELECT
        ranked.national_id,
        ranked.person_pseudonym,
        ranked.province_code AS home_province_code,
        COALESCE(registrations.registrations, 0) AS registrations,
        COALESCE(live_loans.live_loans, 0) AS live_loans,
        COALESCE(completed_trainings.completed_trainings, 0) AS completed_trainings,
        COALESCE(registrations.has_supporter, 0) AS has_supporter
    FROM ranked
    LEFT JOIN registrations ON registrations.national_id = ranked.national_id
    LEFT JOIN live_loans ON live_loans.national_id = ranked.national_id
    LEFT JOIN completed_trainings ON completed_trainings.national_id = ranked.national_id
    WHERE ranked.position = 1
)
SELECT
    national_id,
    person_pseudonym,
    home_province_code,
    registrations,
    live_loans,
    completed_trainings,
    has_supporter = 1,
    registrations > 1,
    live_loans > 0 AND completed_trainings = 0 AND has_supporter = 0,
    live_loans > 0 AND registrations = 0,
    national_id IN (SELECT national_id_l FROM suspected_duplicate_pair
                    UNION SELECT national_id_r FROM suspected_duplicate_pair)
FROM counted

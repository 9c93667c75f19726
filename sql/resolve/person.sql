-- Persons and their flags (contract section 4), recomputed for the national IDs in person_resolving
-- (the pending IDs, each once) from all their loaded records (etl/resolve.py deletes their old rows first).
-- A person is a national ID on any registration, training or loan (any status).
-- Home province: earliest registration (registered_at, then province code); else
-- earliest loan (approved_at, else disbursed_at, then province code); else
-- earliest training (start_date, then province code). Undated records sort last.
-- The pseudonym is the same on every record of a person (etl/pseudonym.py). suspected_duplicate
-- follows the pairs the matching stage last published (etl/suspects.py).
-- Each source table is read once: the counts are sums over the same records the home province is
-- ranked from (a scan per count cost twice the time on the national warehouse).
INSERT INTO person (
    national_id, person_pseudonym, home_province_code, registrations, live_loans, completed_trainings,
    has_supporter, multi_registration, loan_only, unregistered_borrower, suspected_duplicate
)
WITH records AS (
    SELECT
        national_id, person_pseudonym, province_code, 1 AS source_rank, registered_at AS record_date,
        1 AS registration,
        CASE WHEN supporter_id IS NOT NULL AND supporter_id <> '' THEN 1 ELSE 0 END AS supporter,
        0 AS live_loan,
        0 AS completed_training
    FROM registration
    WHERE national_id IN (SELECT national_id FROM person_resolving)
    UNION ALL
    SELECT
        national_id, person_pseudonym, province_code, 2, loan_date,
        0, 0, CASE WHEN status IN ('approved', 'disbursed') THEN 1 ELSE 0 END, 0
    FROM loan
    WHERE national_id IN (SELECT national_id FROM person_resolving)
    UNION ALL
    SELECT
        national_id, person_pseudonym, province_code, 3, start_date,
        0, 0, 0, CASE WHEN completed THEN 1 ELSE 0 END
    FROM training_enrollment
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
        ) AS position,
        SUM(registration) OVER (PARTITION BY national_id) AS registrations,
        SUM(live_loan) OVER (PARTITION BY national_id) AS live_loans,
        SUM(completed_training) OVER (PARTITION BY national_id) AS completed_trainings,
        MAX(supporter) OVER (PARTITION BY national_id) AS has_supporter
    FROM records
)
SELECT
    national_id,
    person_pseudonym,
    province_code,
    registrations,
    live_loans,
    completed_trainings,
    has_supporter = 1,
    registrations > 1,
    live_loans > 0 AND completed_trainings = 0 AND has_supporter = 0,
    live_loans > 0 AND registrations = 0,
    national_id IN (SELECT national_id_l FROM suspected_duplicate_pair
                    UNION SELECT national_id_r FROM suspected_duplicate_pair)
FROM ranked
WHERE position = 1

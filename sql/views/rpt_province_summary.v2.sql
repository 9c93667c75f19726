-- One row per province (all 31, zeros where nothing came). v2 adds suspected_duplicate_persons (home)
-- at the end; the other columns keep their meaning.
-- persons, multi_registration_persons, trained_persons, loan_only_persons and
-- unregistered_borrowers count persons by HOME province; registrations, loans,
-- loan_amount_rial and borrowers count records by the SENDING province.
CREATE VIEW rpt_province_summary AS
WITH home AS (
    SELECT
        home_province_code AS province_code,
        COUNT(*) AS persons,
        SUM(CASE WHEN multi_registration THEN 1 ELSE 0 END) AS multi_registration_persons,
        SUM(CASE WHEN completed_trainings > 0 THEN 1 ELSE 0 END) AS trained_persons,
        SUM(CASE WHEN loan_only THEN 1 ELSE 0 END) AS loan_only_persons,
        SUM(CASE WHEN unregistered_borrower THEN 1 ELSE 0 END) AS unregistered_borrowers,
        SUM(CASE WHEN suspected_duplicate THEN 1 ELSE 0 END) AS suspected_duplicate_persons
    FROM person
    GROUP BY home_province_code
),
sent_registrations AS (
    SELECT province_code, COUNT(*) AS registrations
    FROM registration
    GROUP BY province_code
),
sent_live_loans AS (
    SELECT
        province_code,
        COUNT(*) AS loans,
        SUM(amount_rial) AS loan_amount_rial,
        COUNT(DISTINCT national_id) AS borrowers
    FROM loan
    WHERE status IN ('approved', 'disbursed')
    GROUP BY province_code
)
SELECT
    p.province_code,
    p.name_fa AS province_name_fa,
    p.name_en AS province_name_en,
    COALESCE(home.persons, 0) AS persons,
    COALESCE(sent_registrations.registrations, 0) AS registrations,
    COALESCE(home.multi_registration_persons, 0) AS multi_registration_persons,
    COALESCE(sent_live_loans.loans, 0) AS loans,
    CAST(COALESCE(sent_live_loans.loan_amount_rial, 0) AS BIGINT) AS loan_amount_rial,
    COALESCE(sent_live_loans.borrowers, 0) AS borrowers,
    COALESCE(home.trained_persons, 0) AS trained_persons,
    COALESCE(home.loan_only_persons, 0) AS loan_only_persons,
    COALESCE(home.unregistered_borrowers, 0) AS unregistered_borrowers,
    COALESCE(home.suspected_duplicate_persons, 0) AS suspected_duplicate_persons
FROM ref_province AS p
LEFT JOIN home ON home.province_code = p.province_code
LEFT JOIN sent_registrations ON sent_registrations.province_code = p.province_code
LEFT JOIN sent_live_loans ON sent_live_loans.province_code = p.province_code

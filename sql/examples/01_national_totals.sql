-- National totals. borrowers is counted over the whole country, because the
-- per-province borrowers column counts a person once in each sending province.
SELECT
    SUM(persons) AS persons,
    SUM(registrations) AS registrations,
    SUM(multi_registration_persons) AS multi_registration_persons,
    SUM(loans) AS live_loans,
    SUM(loan_amount_rial) AS live_loan_amount_rial,
    (SELECT COUNT(DISTINCT person_pseudonym) FROM loan WHERE status IN ('approved', 'disbursed')) AS borrowers,
    SUM(trained_persons) AS trained_persons,
    SUM(loan_only_persons) AS loan_only_persons,
    SUM(unregistered_borrowers) AS unregistered_borrowers
FROM rpt_province_summary

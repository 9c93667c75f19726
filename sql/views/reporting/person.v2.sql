-- Persons for analysts: the pseudonym instead of the national ID. Read-only. v2 adds suspected_duplicate.
CREATE VIEW reporting.person AS
SELECT
    person_pseudonym,
    home_province_code,
    registrations,
    live_loans,
    completed_trainings,
    has_supporter,
    multi_registration,
    loan_only,
    unregistered_borrower,
    suspected_duplicate
FROM personal.person

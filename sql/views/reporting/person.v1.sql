-- Persons for analysts: the pseudonym instead of the national ID. Read-only.
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
    unregistered_borrower
FROM personal.person

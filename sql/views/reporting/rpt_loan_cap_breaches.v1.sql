-- Loans above the cap (as personal.rpt_loan_cap_breaches) with the borrower's
-- pseudonym in place of the national ID. Read-only.
CREATE VIEW reporting.rpt_loan_cap_breaches AS
SELECT
    l.province_code,
    l.bank,
    l.loan_id,
    l.person_pseudonym,
    l.loan_type,
    l.loan_date_jalali_year AS jalali_year,
    l.amount_rial,
    c.cap_rial
FROM personal.loan AS l
JOIN reporting.ref_loan_cap AS c
    ON c.loan_type = l.loan_type
    AND c.jalali_year = l.loan_date_jalali_year
WHERE l.amount_rial > c.cap_rial

-- Loans of any status whose amount is strictly above the cap for their type and
-- the Jalali year of approved_at (or disbursed_at when approved_at is empty).
-- Years and types without a cap, and loans with neither date, are not checked.
CREATE VIEW rpt_loan_cap_breaches AS
SELECT
    l.province_code,
    l.bank,
    l.loan_id,
    l.national_id,
    l.loan_type,
    l.loan_date_jalali_year AS jalali_year,
    l.amount_rial,
    c.cap_rial
FROM loan AS l
JOIN ref_loan_cap AS c
    ON c.loan_type = l.loan_type
    AND c.jalali_year = l.loan_date_jalali_year
WHERE l.amount_rial > c.cap_rial

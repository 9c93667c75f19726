-- Loans for analysts: no national ID or names; the borrower is followed by
-- person_pseudonym. Read-only.
CREATE VIEW reporting.loan AS
SELECT
    bank_key,
    loan_key,
    bank,
    loan_id,
    province_code,
    person_pseudonym,
    loan_type,
    amount_rial,
    approved_at,
    approved_at_jalali_year,
    approved_at_jalali_month,
    disbursed_at,
    disbursed_at_jalali_year,
    disbursed_at_jalali_month,
    loan_date,
    loan_date_jalali_year,
    loan_date_jalali_month,
    status,
    file_id,
    file_seq,
    line_number
FROM personal.loan

-- Live loans (approved or disbursed) by the Jalali month of approved_at, or of
-- disbursed_at when approved_at is empty; loans with neither date are left out.
CREATE VIEW rpt_monthly_loans AS
SELECT
    loan_date_jalali_year AS jalali_year,
    loan_date_jalali_month AS jalali_month,
    province_code,
    COUNT(*) AS loans,
    CAST(SUM(amount_rial) AS BIGINT) AS loan_amount_rial
FROM loan
WHERE status IN ('approved', 'disbursed')
  AND loan_date IS NOT NULL
GROUP BY loan_date_jalali_year, loan_date_jalali_month, province_code

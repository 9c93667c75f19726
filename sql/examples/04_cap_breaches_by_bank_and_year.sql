-- Loan cap breaches per bank, Jalali year and loan type, grouped on the bank's
-- match key so that «بانك ملت» and «بانک‌ملت» count as one bank.
SELECT
    l.bank_key,
    MIN(b.bank) AS bank,
    b.jalali_year,
    b.loan_type,
    COUNT(*) AS breaches,
    SUM(b.amount_rial - b.cap_rial) AS amount_over_cap_rial,
    MAX(b.amount_rial) AS largest_amount_rial
FROM rpt_loan_cap_breaches AS b
JOIN loan AS l ON l.bank = b.bank AND l.loan_id = b.loan_id
GROUP BY l.bank_key, b.jalali_year, b.loan_type
ORDER BY b.jalali_year, b.loan_type, breaches DESC, l.bank_key

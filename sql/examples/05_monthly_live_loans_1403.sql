-- Live loans per Jalali month of 1403, all provinces (loans with no date are not in this view).
SELECT
    jalali_month,
    SUM(loans) AS loans,
    SUM(loan_amount_rial) AS loan_amount_rial
FROM rpt_monthly_loans
WHERE jalali_year = 1403
GROUP BY jalali_month
ORDER BY jalali_month

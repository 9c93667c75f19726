-- Share of borrowers (persons with a live loan) flagged loan_only, by home province.
SELECT
    p.home_province_code,
    r.name_en,
    COUNT(*) AS borrowers,
    SUM(CASE WHEN p.loan_only THEN 1 ELSE 0 END) AS loan_only_persons,
    ROUND(100.0 * SUM(CASE WHEN p.loan_only THEN 1 ELSE 0 END) / COUNT(*), 1) AS loan_only_pct
FROM person AS p
JOIN ref_province AS r ON r.province_code = p.home_province_code
WHERE p.live_loans > 0
GROUP BY p.home_province_code, r.name_en
ORDER BY loan_only_pct DESC, p.home_province_code

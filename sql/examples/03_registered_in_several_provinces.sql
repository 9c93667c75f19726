-- People registered in more than one province, one row per registration.
SELECT
    r.national_id,
    p.home_province_code,
    r.province_code,
    r.application_id,
    r.registered_at,
    r.registered_at_jalali_year,
    r.supporter_id,
    p.live_loans,
    p.loan_only
FROM registration AS r
JOIN person AS p ON p.national_id = r.national_id
WHERE r.national_id IN (
    SELECT national_id
    FROM registration
    GROUP BY national_id
    HAVING COUNT(DISTINCT province_code) > 1
)
ORDER BY r.national_id, r.registered_at, r.province_code
